-- The book's pages link to each other by their markdown names, so that the
-- links work on GitHub too; in the HTML book each page is an .html file,
-- and the contents page (README.md) is index.html.
function Link(link)
  local page, anchor = link.target:match("^([%w%-_]+)%.md(#?.*)$")
  if page then
    if page == "README" then
      page = "index"
    end
    link.target = page .. ".html" .. anchor
  end
  return link
end
