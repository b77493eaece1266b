import { Minimatch, type MinimatchOptions } from 'minimatch';

export interface ToolFilterPatterns {
  include?: string[];
  ignore?: string[];
}

// Tool names are plain strings, not paths. minimatch splits on '/' and never lets '*' match a '.' or '..'
// segment, so both the pattern and the name are turned into one segment: every '/' becomes a character no
// glob syntax uses, and the same character is put in front (so '*' also matches the names '.' and '..').
// An escaped '\/' in a pattern becomes an escaped placeholder, which still means a literal '/'.
const SEGMENT_MARK = '\uE000';

function asSingleSegment(text: string): string {
  return SEGMENT_MARK + text.replaceAll('/', SEGMENT_MARK);
}

const MATCH_OPTIONS: MinimatchOptions = {
  nocase: true,
  dot: true,
  // Patterns mean the same on every OS ('\' escapes, never a separator).
  platform: 'linux',
  // '#' and a leading '!' are ordinary characters: exclusions belong in `ignore`.
  nocomment: true,
  nonegate: true,
};

function compile(patterns: readonly string[] | undefined): Minimatch[] {
  return (patterns ?? []).map((pattern) => new Minimatch(asSingleSegment(pattern), MATCH_OPTIONS));
}

/**
 * Returns a predicate that says whether a tool (by its upstream name) is exposed: it must match one `include`
 * pattern when any are given, and no `ignore` pattern. Patterns are compiled once, here.
 */
export function createToolFilter(patterns: ToolFilterPatterns): (toolName: string) => boolean {
  const include = compile(patterns.include);
  const ignore = compile(patterns.ignore);
  return (toolName) => {
    const name = asSingleSegment(toolName);
    if (include.length > 0 && !include.some((matcher) => matcher.match(name))) return false;
    return !ignore.some((matcher) => matcher.match(name));
  };
}
