-- A paragraph that holds nothing but an image is one of the book's
-- figures: in the HTML book it becomes a <figure> with the image's
-- description as its caption, and an id (figure-<file name>) to link to.
-- On GitHub the same markdown shows the image with its description as
-- alternative text; the text around it names it ("figure 3").
function Para(paragraph)
  if #paragraph.content ~= 1 or paragraph.content[1].t ~= "Image" then
    return nil
  end
  local image = paragraph.content[1]
  local caption = pandoc.utils.stringify(image.caption)
  local name = image.src:match("([%w%-_]+)%.%w+$") or "image"
  local escaped = caption:gsub("&", "&amp;"):gsub("<", "&lt;"):gsub(">", "&gt;"):gsub('"', "&quot;")
  return pandoc.RawBlock("html", string.format(
    '<figure id="figure-%s">\n<img src="%s" alt="%s" />\n<figcaption>%s</figcaption>\n</figure>',
    name, image.src, escaped, escaped))
end
