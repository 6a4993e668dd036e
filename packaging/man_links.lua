-- Man pages have no links: a link into the repository (a relative target) keeps its text
-- only; an absolute one (https:, mailto:) keeps pandoc's "text (URL)".
function Link(link)
  if not link.target:match('^%a[%w+.-]*:') then
    return link.content
  end
end
