/**
 * A regular-expression engine whose matching time is linear in the input (a Thompson NFA
 * run as a Pike VM, no backtracking), for patterns a caller brings: JSON Schema `pattern`
 * and `patternProperties` in structured output. V8's own engine backtracks: `^(a|a)*$`
 * against 29 characters, or `[a-z]+@` against 64 KiB, holds the event loop for seconds.
 *
 * The syntax is ECMAScript's (the whole pattern must also compile as a native RegExp), minus
 * what cannot run in linear time or is rarely meant in a schema: backreferences, lookahead
 * and lookbehind, and inline modifiers are refused (UnsupportedPatternError). Each
 * single-character matcher (a literal, `.`, `\d`, `\p{L}`, a class `[...]`) is checked by a
 * native RegExp of that atom alone against one character: bounded work, and exactly
 * ECMAScript's meaning for classes and escapes.
 *
 * Cost: at most MAX_PROGRAM instructions per pattern (counted repetition is expanded), and
 * per input character at most that many steps. `withRegexBudget` bounds the total steps of
 * a piece of synchronous work (one reply's validation); beyond it RegexBudgetError is thrown.
 */

/** A pattern longer than this many characters is refused. */
export const MAX_PATTERN_LENGTH = 1000;
/** A pattern compiling to more than this many instructions is refused (`a{1000}` is 1000). */
export const MAX_PROGRAM = 4096;

export class UnsupportedPatternError extends Error {
  override name = 'UnsupportedPatternError';
}
export class RegexBudgetError extends Error {
  override name = 'RegexBudgetError';
}

type Node =
  | { t: 'char'; atom: number }
  | { t: 'assert'; kind: 'bol' | 'eol' | 'word' | 'nonword' }
  | { t: 'seq'; items: Node[] }
  | { t: 'alt'; options: Node[] }
  | { t: 'repeat'; node: Node; min: number; max: number };

type Inst = { op: 'char'; atom: number } | { op: 'split'; x: number; y: number } | { op: 'jmp'; x: number } | { op: 'assert'; kind: 'bol' | 'eol' | 'word' | 'nonword' } | { op: 'match' };

const refuse = (why: string) => new UnsupportedPatternError(why);

/** Parses `source` into a tree; single-character atoms are collected as native-RegExp sources. */
function parse(source: string, atoms: string[]): Node {
  let i = 0;
  const atom = (src: string): Node => {
    atoms.push(src);
    return { t: 'char', atom: atoms.length - 1 };
  };
  const hex = (n: number) => new RegExp(`^[0-9A-Fa-f]{${n}}`).test(source.slice(i, i + n));

  function escape(): Node {
    // At a backslash outside a class.
    const c = source[i + 1];
    if (c === undefined) throw refuse('the pattern ends with a backslash');
    if (c === 'b' || c === 'B') {
      i += 2;
      return { t: 'assert', kind: c === 'b' ? 'word' : 'nonword' };
    }
    if (/[1-9]/.test(c) || c === 'k') throw refuse('backreferences are not supported');
    if (c === 'p' || c === 'P') {
      const end = source.indexOf('}', i);
      if (source[i + 2] !== '{' || end < 0) throw refuse('\\p needs {…}');
      const src = source.slice(i, end + 1);
      i = end + 1;
      return atom(src);
    }
    if (c === 'u') {
      if (source[i + 2] === '{') {
        const end = source.indexOf('}', i);
        if (end < 0) throw refuse('\\u{ without }');
        const src = source.slice(i, end + 1);
        i = end + 1;
        return atom(src);
      }
      i += 2;
      if (!hex(4)) throw refuse('\\u needs four hex digits');
      let src = `\\u${source.slice(i, i + 4)}`;
      const unit = parseInt(source.slice(i, i + 4), 16);
      i += 4;
      // A surrogate pair written as two escapes is one character (u mode).
      if (unit >= 0xd800 && unit <= 0xdbff && source.slice(i, i + 2) === '\\u') {
        i += 2;
        if (hex(4) && parseInt(source.slice(i, i + 4), 16) >= 0xdc00 && parseInt(source.slice(i, i + 4), 16) <= 0xdfff) {
          src += `\\u${source.slice(i, i + 4)}`;
          i += 4;
        } else i -= 2;
      }
      return atom(src);
    }
    if (c === 'x') {
      const src = source.slice(i, i + 4);
      i += 4;
      return atom(src);
    }
    if (c === 'c') {
      const src = source.slice(i, i + 3);
      i += 3;
      return atom(src);
    }
    // \d \w \s, control escapes, \0, identity escapes: one character each (the native
    // RegExp of the atom refuses what u mode does not allow).
    const cp = source.codePointAt(i + 1)!;
    const src = `\\${String.fromCodePoint(cp)}`;
    i += src.length;
    return atom(src);
  }

  function charClass(): Node {
    let j = i + 1;
    if (source[j] === '^') j++;
    while (j < source.length && source[j] !== ']') j += source[j] === '\\' ? 2 : 1;
    if (j >= source.length) throw refuse('a character class is not closed');
    const src = source.slice(i, j + 1);
    i = j + 1;
    return atom(src);
  }

  function quantifier(): { min: number; max: number } | undefined {
    const c = source[i];
    let q: { min: number; max: number } | undefined;
    if (c === '*') q = { min: 0, max: Infinity };
    else if (c === '+') q = { min: 1, max: Infinity };
    else if (c === '?') q = { min: 0, max: 1 };
    if (q) i++;
    else if (c === '{') {
      const m = /^\{(\d+)(,(\d*))?\}/.exec(source.slice(i));
      if (!m) throw refuse('a lone { (write \\{)');
      const min = Number(m[1]);
      const max = m[2] === undefined ? min : m[3] === '' ? Infinity : Number(m[3]);
      if (max < min) throw refuse('a quantifier {n,m} needs n <= m');
      if (min > MAX_PROGRAM || (max !== Infinity && max > MAX_PROGRAM)) throw refuse(`a quantifier above ${MAX_PROGRAM}`);
      q = { min, max };
      i += m[0].length;
    }
    if (q && source[i] === '?') i++; // lazy: the same answer for a match test
    return q;
  }

  function alternation(depth: number): Node {
    const options: Node[] = [sequence(depth)];
    while (source[i] === '|') {
      i++;
      options.push(sequence(depth));
    }
    return options.length === 1 ? options[0]! : { t: 'alt', options };
  }

  function sequence(depth: number): Node {
    const items: Node[] = [];
    while (i < source.length && source[i] !== '|' && source[i] !== ')') {
      const c = source[i]!;
      let node: Node;
      if (c === '(') {
        if (depth >= 64) throw refuse('groups are nested too deep');
        if (source[i + 1] === '?') {
          if (source[i + 2] === ':') i += 3;
          else if (source[i + 2] === '<' && source[i + 3] !== '=' && source[i + 3] !== '!') {
            const end = source.indexOf('>', i);
            if (end < 0) throw refuse('a group name is not closed');
            i = end + 1;
          } else if (source[i + 2] === '=' || source[i + 2] === '!' || source[i + 2] === '<') throw refuse('lookahead and lookbehind are not supported');
          else throw refuse('inline modifiers are not supported');
        } else i++;
        node = alternation(depth + 1);
        if (source[i] !== ')') throw refuse('a group is not closed');
        i++;
      } else if (c === '[') node = charClass();
      else if (c === '\\') node = escape();
      else if (c === '^' || c === '$') {
        i++;
        node = { t: 'assert', kind: c === '^' ? 'bol' : 'eol' };
      } else if (c === '*' || c === '+' || c === '?' || c === '{') throw refuse('nothing to repeat');
      else if (c === ']' || c === '}') throw refuse(`a lone ${c}`);
      else {
        const ch = String.fromCodePoint(source.codePointAt(i)!);
        i += ch.length;
        node = atom(ch === '.' ? '.' : ch.replace(/[/]/g, '\\/'));
      }
      const q = quantifier();
      if (q) {
        if (node.t === 'assert') throw refuse('an assertion cannot be repeated');
        node = { t: 'repeat', node, ...q };
      }
      items.push(node);
    }
    return items.length === 1 ? items[0]! : { t: 'seq', items };
  }

  const tree = alternation(0);
  if (i < source.length) throw refuse('an unmatched )');
  return tree;
}

/** Compiles the tree to Pike VM instructions (counted repetition expanded). */
function emit(node: Node, prog: Inst[]): void {
  if (prog.length > MAX_PROGRAM) throw refuse(`the pattern is too large (over ${MAX_PROGRAM} steps)`);
  switch (node.t) {
    case 'char':
      prog.push({ op: 'char', atom: node.atom });
      return;
    case 'assert':
      prog.push({ op: 'assert', kind: node.kind });
      return;
    case 'seq':
      for (const n of node.items) emit(n, prog);
      return;
    case 'alt': {
      const jumps: Array<Extract<Inst, { op: 'jmp' }>> = [];
      node.options.forEach((opt, k) => {
        if (k < node.options.length - 1) {
          const split: Inst = { op: 'split', x: prog.length + 1, y: -1 };
          prog.push(split);
          emit(opt, prog);
          const j: Extract<Inst, { op: 'jmp' }> = { op: 'jmp', x: -1 };
          prog.push(j);
          jumps.push(j);
          split.y = prog.length;
        } else emit(opt, prog);
      });
      for (const j of jumps) j.x = prog.length;
      return;
    }
    case 'repeat': {
      for (let k = 0; k < node.min; k++) emit(node.node, prog);
      if (node.max === Infinity) {
        const split: Inst = { op: 'split', x: prog.length + 1, y: -1 };
        const at = prog.length;
        prog.push(split);
        emit(node.node, prog);
        prog.push({ op: 'jmp', x: at });
        split.y = prog.length;
        return;
      }
      const splits: Array<Extract<Inst, { op: 'split' }>> = [];
      for (let k = node.min; k < node.max; k++) {
        const split: Extract<Inst, { op: 'split' }> = { op: 'split', x: prog.length + 1, y: -1 };
        prog.push(split);
        splits.push(split);
        emit(node.node, prog);
      }
      for (const s of splits) s.y = prog.length;
      return;
    }
  }
}

let budget = Infinity;

/**
 * Runs `fn` with at most `steps` matching steps over all linear regexes it runs (a step:
 * one live NFA state against one character); past it, the running test throws
 * RegexBudgetError. For synchronous work only (the budget is per process, restored after).
 */
export function withRegexBudget<T>(steps: number, fn: () => T): T {
  const saved = budget;
  budget = steps;
  try {
    return fn();
  } finally {
    budget = saved;
  }
}

const isWord = (cp: number) => (cp >= 48 && cp <= 57) || (cp >= 65 && cp <= 90) || (cp >= 97 && cp <= 122) || cp === 95;

export interface LinearRegExp {
  readonly source: string;
  readonly flags: string;
  test(s: string): boolean;
  toString(): string;
}

/**
 * Compiles `source` (ECMAScript syntax; `flags` '' or 'u') or throws
 * UnsupportedPatternError (a pattern this engine does not run, or not a valid RegExp).
 */
export function linearRegExp(source: string, flags = 'u'): LinearRegExp {
  if (flags !== '' && flags !== 'u') throw refuse(`flags "${flags}" are not supported`);
  if (source.length > MAX_PATTERN_LENGTH) throw refuse(`the pattern is longer than ${MAX_PATTERN_LENGTH} characters`);
  try {
    new RegExp(source, flags); // compiles only: what is not ECMAScript is refused here
  } catch (err) {
    throw refuse((err as Error).message);
  }
  const atomSources: string[] = [];
  const prog: Inst[] = [];
  emit(parse(source, atomSources), prog);
  prog.push({ op: 'match' });
  if (prog.length > MAX_PROGRAM) throw refuse(`the pattern is too large (over ${MAX_PROGRAM} steps)`);
  const atoms = atomSources.map((src) => {
    try {
      return new RegExp(`^(?:${src})$`, flags);
    } catch (err) {
      throw refuse((err as Error).message);
    }
  });
  // Answers for ASCII characters, per atom: 0 unknown, 1 match, 2 no match.
  const ascii = atoms.map(() => new Uint8Array(128));
  const matches = (a: number, cp: number, ch: string): boolean => {
    if (cp < 128) {
      const known = ascii[a]![cp]!;
      if (known) return known === 1;
      const r = atoms[a]!.test(ch);
      ascii[a]![cp] = r ? 1 : 2;
      return r;
    }
    return atoms[a]!.test(ch);
  };
  const unicode = flags === 'u';
  const n = prog.length;

  function test(s: string): boolean {
    const seen = new Int32Array(n).fill(-1);
    let clist: number[] = [];
    let nlist: number[] = [];
    const stack: number[] = [];
    // Adds pc and everything reachable without consuming; true when `match` is reachable.
    const add = (list: number[], pc0: number, gen: number, prev: number, cur: number, pos: number): boolean => {
      stack.push(pc0);
      while (stack.length) {
        const pc = stack.pop()!;
        if (seen[pc] === gen) continue;
        seen[pc] = gen;
        const ins = prog[pc]!;
        switch (ins.op) {
          case 'match':
            stack.length = 0;
            return true;
          case 'char':
            list.push(pc);
            break;
          case 'jmp':
            stack.push(ins.x);
            break;
          case 'split':
            stack.push(ins.y, ins.x);
            break;
          case 'assert': {
            const ok =
              ins.kind === 'bol' ? pos === 0 : ins.kind === 'eol' ? pos === s.length : (isWord(prev) !== isWord(cur)) === (ins.kind === 'word');
            if (ok) stack.push(pc + 1);
            break;
          }
        }
      }
      return false;
    };
    let pos = 0;
    let prev = -1;
    let gen = 0;
    for (;;) {
      const cur = pos < s.length ? (unicode ? s.codePointAt(pos)! : s.charCodeAt(pos)) : -1;
      // Unanchored: a new thread starts at every position.
      if (add(clist, 0, gen, prev, cur, pos)) return true;
      if (pos >= s.length) return false;
      budget -= clist.length;
      if (budget < 0) throw new RegexBudgetError('regular expression budget exhausted');
      const width = unicode && cur > 0xffff ? 2 : 1;
      const ch = s.slice(pos, pos + width);
      const next = pos + width;
      const nextCp = next < s.length ? (unicode ? s.codePointAt(next)! : s.charCodeAt(next)) : -1;
      gen++;
      for (const pc of clist) {
        const ins = prog[pc] as Extract<Inst, { op: 'char' }>;
        if (matches(ins.atom, cur, ch) && add(nlist, pc + 1, gen, cur, nextCp, next)) return true;
      }
      [clist, nlist] = [nlist, clist];
      nlist.length = 0;
      prev = cur;
      pos = next;
    }
  }

  return { source, flags, test, toString: () => `/${source}/${flags} (linear)` };
}

/**
 * Why `source` could take super-linear time in a backtracking engine (V8's RegExp, which
 * libraries downstream of us use on a tool's arguments), or undefined when it is safe to
 * hand on. Refuses what linearRegExp refuses (backreferences, lookaround, inline modifiers)
 * and, conservatively, a repeated sub-pattern holding a variable-length repeat (`(a+)+`,
 * `(a*)*`) or an alternation whose branches may start alike (`(a|a)*`, `(\w|_)+`). An
 * alternation whose branches all start with distinct literal characters (`(ab|cd)*`) is
 * allowed. Adjacent overlapping repeats (`\d*\d*`) are polynomial, not exponential, and
 * are allowed (bounded by the size of the input).
 */
export function backtrackingIssue(source: string, flags = 'u'): string | undefined {
  try {
    linearRegExp(source, flags);
  } catch (err) {
    return (err as Error).message;
  }
  const atoms: string[] = [];
  const tree = parse(source, atoms);
  const literal = (node: Node | undefined): string | undefined => {
    while (node && node.t === 'seq') node = node.items[0];
    if (!node || node.t !== 'char') return undefined;
    const src = atoms[node.atom]!;
    return src !== '.' && [...src].length === 1 ? src : src === '\\/' ? '/' : undefined;
  };
  const walk = (node: Node, repeated: boolean): string | undefined => {
    switch (node.t) {
      case 'char':
      case 'assert':
        return undefined;
      case 'seq':
        for (const n of node.items) {
          const why = walk(n, repeated);
          if (why) return why;
        }
        return undefined;
      case 'alt': {
        if (repeated) {
          const firsts = node.options.map(literal);
          if (firsts.some((f) => f === undefined) || new Set(firsts).size !== firsts.length) return 'a repeated alternation whose branches may match alike (e.g. (a|a)*)';
        }
        for (const n of node.options) {
          const why = walk(n, repeated);
          if (why) return why;
        }
        return undefined;
      }
      case 'repeat': {
        const variable = node.min !== node.max;
        if (repeated && variable) return 'a nested quantifier (e.g. (a+)+)';
        return walk(node.node, repeated || node.max > 1);
      }
    }
  };
  return walk(tree, false);
}
