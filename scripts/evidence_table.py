#!/usr/bin/env python3
"""Table of an evidence folder (scripts/evidence_lass3d_cns.sh): python3 scripts/evidence_table.py DIR --tsv TSV
--baseline ROW [--delta miou,miou_2d]. Per row: n seeds, mean ± sample std (n-1) of every '# metrics:' key of the TSV
(last eval record), and for each --delta key the paired difference to the baseline row over the seeds both have:
mean [min, max]. Values in % (x100). Rows or seeds without an eval record are listed as missing."""
import argparse, json, math, os, sys


def last_eval(path):
    rec = None
    try:
        with open(path) as f:
            for line in f:
                if '"type":"eval"' in line.replace(' ', ''):
                    rec = json.loads(line)
    except FileNotFoundError:
        return None
    return rec


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('dir')
    ap.add_argument('--tsv', required=True)
    ap.add_argument('--baseline', required=True)
    ap.add_argument('--delta', default='miou')
    a = ap.parse_args()
    rows, metrics = [], ['miou']
    for line in open(a.tsv):
        if line.startswith('# metrics:'):
            metrics = line.split(':', 1)[1].split()
        elif line.strip() and not line.startswith('#'):
            rows.append(line.split('\t')[0])
    deltas = [d for d in a.delta.split(',') if d]
    vals = {}
    for r in rows:
        d = os.path.join(a.dir, r)
        seeds = sorted(s for s in os.listdir(d) if s.startswith('seed') and s[4:].isdigit()) if os.path.isdir(d) else []
        for s in seeds:
            rec = last_eval(os.path.join(d, s, 'metrics.jsonl'))
            if rec is not None:
                vals.setdefault(r, {})[int(s[4:])] = rec
    def fmt(xs):
        xs = [100 * x for x in xs]
        if not xs:
            return '—'
        m = sum(xs) / len(xs)
        if len(xs) == 1:
            return f'{m:.1f}'
        sd = math.sqrt(sum((x - m) ** 2 for x in xs) / (len(xs) - 1))
        return f'{m:.1f} ± {sd:.1f}'
    head = ['row', 'seeds'] + [f'{m}' for m in metrics] + [f'Δ{d} vs {a.baseline} (paired)' for d in deltas]
    print('| ' + ' | '.join(head) + ' |')
    print('|' + '---|' * len(head))
    base = vals.get(a.baseline, {})
    for r in rows:
        v = vals.get(r, {})
        cells = [r, ','.join(str(s) for s in sorted(v)) or 'missing']
        for m in metrics:
            cells.append(fmt([v[s][m] for s in sorted(v) if isinstance(v[s].get(m), (int, float))]))
        for dk in deltas:
            ds = [100 * (v[s][dk] - base[s][dk]) for s in sorted(v) if s in base and dk in v[s] and dk in base[s]]
            if r == a.baseline or not ds:
                cells.append('—')
            else:
                cells.append(f'{sum(ds) / len(ds):+.1f} [{min(ds):+.1f}, {max(ds):+.1f}] (n={len(ds)})')
        print('| ' + ' | '.join(cells) + ' |')


if __name__ == '__main__':
    sys.exit(main())
