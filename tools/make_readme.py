"""Write README.md from nbs/index.ipynb (what `nbdev-readme` does, without needing Quarto).

Usage: python tools/make_readme.py [--check]   (--check: exit 1 if README.md is out of date)
"""
import json, re, sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

def render(nb_path=ROOT/'nbs'/'index.ipynb') -> str:
    "The markdown cells of the index notebook, joined, with the notebook links pointing into nbs/."
    nb = json.loads(Path(nb_path).read_text())
    parts = [''.join(c['source']) for c in nb['cells'] if c['cell_type'] == 'markdown']
    txt = '\n\n'.join(p.strip() for p in parts) + '\n'
    txt = re.sub(r'\]\((\d\d_[\w-]+\.ipynb)\)', r'](nbs/\1)', txt)
    return '<!-- generated from nbs/index.ipynb by tools/make_readme.py: edit the notebook -->\n\n' + txt

if __name__ == '__main__':
    new = render(); readme = ROOT/'README.md'
    if '--check' in sys.argv:
        if not readme.exists() or readme.read_text() != new:
            sys.exit('README.md is out of date: run python tools/make_readme.py')
    else: readme.write_text(new)
