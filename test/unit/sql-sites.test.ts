/**
 * SQL lives with the tables it touches: the app-wide tables' in src/db/, each backing
 * service's store in src/stores/<service>/. Everything else (clients, tools, workflows,
 * features, server, system) calls their functions and holds no SQL text.
 *
 * Read from the TypeScript syntax tree of every src/**\/*.ts file: string and template
 * literals that look like SQL (select … from, insert into, update … set, delete from,
 * create/alter table, with … as (, on conflict, advisory locks), and any `.query(…)`
 * call with a literal first argument (`begin`, `select 1`, …). Comments are not read.
 */
import fs from 'node:fs';
import path from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const ROOT = path.resolve(import.meta.dirname, '../..');
const ALLOWED = [/^src\/db\//, /^src\/stores\//];


const SQL: RegExp[] = [
  /\bselect\s+(?:distinct\s+)?(?:\*|[\w.()$"]+(?:\s*::\s*\w+)?(?:\s+as\s+\w+)?)(?:\s*,\s*[^,]+?)*\s+from\s+[\w."$]+/i,
  /\binsert\s+into\s+[\w."$]+/i,
  /\bupdate\s+[\w."$]+\s+set\s+[\w"$]+\s*=/i,
  /\bdelete\s+from\s+[\w."$]+/i,
  /\b(?:create|alter|drop)\s+(?:unique\s+)?(?:table|index|publication|view)\b/i,
  /\bwith\s+\w+\s+as\s*\(/i,
  /\bon\s+conflict\b/i,
  /\bpg_advisory(?:_xact)?_(?:un)?lock\b/i,
  /\bfor\s+update\s+skip\s+locked\b/i,
];

export interface SqlSite {
  line: number;
  text: string;
}

/** The SQL-looking literals and literal `.query(…)` calls of one TypeScript source. */
export function sqlSites(source: string, fileName = 'sample.ts'): SqlSite[] {
  const sf = ts.createSourceFile(fileName, source, ts.ScriptTarget.Latest, true, ts.ScriptKind.TS);
  const out: SqlSite[] = [];
  const at = (n: ts.Node, text: string) => out.push({ line: sf.getLineAndCharacterOfPosition(n.getStart(sf)).line + 1, text: text.replace(/\s+/g, ' ').slice(0, 120) });
  const literalText = (n: ts.Node): string | undefined => {
    if (ts.isStringLiteral(n) || ts.isNoSubstitutionTemplateLiteral(n)) return n.text;
    // `${…}` stands in as one identifier, so `update ${t} set x = $1` still reads as SQL.
    if (ts.isTemplateExpression(n)) return n.head.text + n.templateSpans.map((s) => `x${s.literal.text}`).join('');
    return undefined;
  };
  const visit = (n: ts.Node) => {
    const text = literalText(n);
    if (text !== undefined && SQL.some((re) => re.test(text))) at(n, text);
    if (ts.isCallExpression(n) && ts.isPropertyAccessExpression(n.expression) && n.expression.name.text === 'query') {
      const first = n.arguments[0];
      const firstText = first && literalText(first);
      if (firstText !== undefined && !SQL.some((re) => re.test(firstText))) at(n, firstText);
    }
    if (!ts.isTemplateExpression(n)) ts.forEachChild(n, visit);
    else n.templateSpans.forEach((s) => visit(s.expression));
  };
  visit(sf);
  return out;
}

function files(dir: string): string[] {
  return fs.readdirSync(path.join(ROOT, dir), { withFileTypes: true }).flatMap((e) => {
    const rel = `${dir}/${e.name}`;
    if (e.isDirectory()) return files(rel);
    return /\.(ts|mts)$/.test(e.name) && !e.name.endsWith('.d.ts') ? [rel] : [];
  });
}

describe('SQL sites', () => {
  it('the scanner sees SQL (it cannot pass by seeing nothing)', () => {
    const sample = [
      "await db.query('select id, title from notes where owner_id = $1', [owner]);",
      'await c.query(`insert into ${t} (id) values ($1)`, [id]);',
      "const q = `update ${table} set status = $3 where id = $1`;",
      "await db.query(\"delete from rate_limits where window_start < $1\", [t]);",
      "await client.query('begin');",
      "await pool.query('select 1');",
      'const s = `with conv as (select 1) select * from conv`;',
      "const ddl = 'create table if not exists t (id text)';",
      'await db.query(sql);',
      "// select id from notes (a comment is not SQL)",
      "throw new Error('select an agent from the list, then update the task');",
      "const kind = 'commit';",
    ].join('\n');
    expect(sqlSites(sample).map((s) => s.line)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    // The whole project has SQL: the scan reads real files, not an empty list.
    expect(sqlSites(fs.readFileSync(path.join(ROOT, 'src/db/migrate.ts'), 'utf8')).length).toBeGreaterThan(3);
  });

  it('SQL text is only in src/db/ and src/stores/', () => {
    const all = files('src');
    const checked = all.filter((f) => !ALLOWED.some((re) => re.test(f)));
    // The scan covers the layers that must hold no SQL (not an empty or wrongly rooted list).
    for (const dir of ['src/clients/', 'src/tools/', 'src/workflows/', 'src/features/', 'src/server/', 'src/system/']) expect(checked.some((f) => f.startsWith(dir)), dir).toBe(true);
    // The stores are really where the SQL went: each backing service's store has some.
    for (const svc of ['atproto', 'ipfs', 'powersync']) expect(all.filter((f) => f.startsWith(`src/stores/${svc}/`)).some((f) => sqlSites(fs.readFileSync(path.join(ROOT, f), 'utf8'), f).length), svc).toBe(true);
    const outside: string[] = [];
    for (const f of checked) {
      for (const s of sqlSites(fs.readFileSync(path.join(ROOT, f), 'utf8'), f)) outside.push(`${f}:${s.line} ${s.text}`);
    }
    expect(outside).toEqual([]);
  });

});
