"""Write README.md from nbs/index.ipynb (nbdev-readme needs Quarto, which is not always installable).

    python tools/readme.py          # write README.md
    python tools/readme.py --check  # exit 1 if README.md is out of step with the notebook
"""
import re, sys
from pathlib import Path
import nbformat
from nbconvert import MarkdownExporter

ROOT = Path(__file__).resolve().parents[1]

def readme_text(nb_path=ROOT/'nbs'/'index.ipynb') -> str:
    "The README's markdown: the notebook without hidden cells and nbdev directives."
    nb = nbformat.read(nb_path, as_version=4)
    keep = []
    for c in nb.cells:
        if c.cell_type == 'code':
            if re.search(r'^#\|\s*(hide|export)\b', c.source, re.M): continue
            c.source = re.sub(r'^#\|.*\n?', '', c.source, flags=re.M)
            for o in c.get('outputs', []):  # plain text reads better than pandas' HTML in a README
                if 'text/html' in o.get('data', {}) and 'text/plain' in o['data']: del o['data']['text/html']
        keep.append(c)
    nb.cells = keep
    nb.metadata['language_info'] = {'name': 'python'}
    md, _ = MarkdownExporter(exclude_raw=True).from_notebook_node(nb)
    return re.sub(r'\n{3,}', '\n\n', md).strip() + '\n'

if __name__ == '__main__':
    txt, out = readme_text(), ROOT/'README.md'
    if '--check' in sys.argv:
        ok = out.exists() and out.read_text() == txt
        print('README.md is in step with nbs/index.ipynb' if ok else 'README.md is out of step: run python tools/readme.py'); sys.exit(0 if ok else 1)
    out.write_text(txt); print(f'wrote {out}')
