-- The book's pages link to each other by their markdown names, so that the
-- links work on GitHub too; in the HTML book each page is an .html file,
-- and the contents page (README.md) is index.html.
local function html_name(page)
  return (page == "README" and "index" or page) .. ".html"
end

function Link(link)
  local page, anchor = link.target:match("^([%w%-_]+)%.md(#.*)$")
  if not page then
    page, anchor = link.target:match("^([%w%-_]+)%.md$"), ""
  end
  if page then
    link.target = html_name(page) .. anchor
  end
  return link
end
