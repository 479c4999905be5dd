/** "name;k=v;k2=v2" (Graphite tags, also what DogStatsD tags become) -> the name and its [key, value] pairs. */
export function splitTags(name: string): { base: string; tags: [string, string][] } {
  const semicolon = name.indexOf(';')
  if (semicolon < 0) return { base: name, tags: [] }
  const tags: [string, string][] = []
  for (const tag of name.slice(semicolon + 1).split(';')) {
    const eq = tag.indexOf('=')
    if (eq > 0) tags.push([tag.slice(0, eq), tag.slice(eq + 1)])
  }
  return { base: name.slice(0, semicolon), tags }
}
