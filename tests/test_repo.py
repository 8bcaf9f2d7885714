"The repository keeps its promises: README generated from the index notebook, CI running the README's test command."
import re, subprocess, sys, tomllib
from pathlib import Path
ROOT = Path(__file__).resolve().parents[1]

def sh_blocks(md: str) -> list[str]: return [l.strip() for b in re.findall(r'```sh\n(.*?)```', md, re.S) for l in b.splitlines() if l.strip()]

def test_readme_in_step_with_index_notebook():
    r = subprocess.run([sys.executable, str(ROOT/'tools'/'readme.py'), '--check'], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr

def test_ci_runs_the_readme_test_command():
    cmds = sh_blocks((ROOT/'README.md').read_text())
    test_cmd = next(c for c in cmds if 'tools/test.sh' in c)
    assert test_cmd in (ROOT/'.ci'/'run').read_text().splitlines()
    assert test_cmd in (ROOT/'.github'/'workflows'/'test.yml').read_text()

def test_nbdev_settings_in_pyproject():
    cfg = tomllib.loads((ROOT/'pyproject.toml').read_text())
    assert set(cfg['tool']['nbdev']['tst_flags'].split()) >= {'hub', 'slow'}
    assert not (ROOT/'settings.ini').exists()
    assert cfg['project']['scripts']['tamil-ser'] == 'tamil_ser.cli:main'

# What `pip install -e .` (no extras) must bring: every package the modules import at the top, and every package imported
# lazily inside a function, unless an optional extra (not `dev`) declares it and the import fails with a line naming it.
import ast, importlib.metadata as md

def _dist(req: str) -> str: return re.split(r'[\s<>=!~;\[]', req, 1)[0].lower().replace('_', '-')

def _declared(cfg: dict, extras: bool) -> set[str]:
    reqs = list(cfg['project']['dependencies'])
    if extras: reqs += [r for k, v in cfg['project']['optional-dependencies'].items() if k != 'dev' for r in v]
    return {_dist(r) for r in reqs if not r.startswith('tamil-ser')}

def _imports(path: Path) -> tuple[set[str], set[str]]:
    "The third-party packages a module imports at its top level, and those it imports inside functions."
    top, inner = set(), set()
    def names(n): return [a.name for a in n.names] if isinstance(n, ast.Import) else [n.module] if n.level == 0 else []
    tree = ast.parse(path.read_text())
    defs = [n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]
    lazy = {id(i) for d in defs for i in ast.walk(d) if isinstance(i, (ast.Import, ast.ImportFrom))}
    for n in ast.walk(tree):
        if not isinstance(n, (ast.Import, ast.ImportFrom)): continue
        for root in {m.split('.')[0] for m in names(n) if m}:
            if root in sys.stdlib_module_names or root == 'tamil_ser': continue
            (inner if id(n) in lazy else top).add(root)
    return top, inner - top

def _to_dists(mods: set[str]) -> dict[str, set[str]]:
    "Import name -> the distributions that provide it (the import name itself where none installed does)."
    pd = md.packages_distributions()
    return {m: {d.lower().replace('_', '-') for d in pd.get(m, [m])} for m in mods}

def _undeclared(extras: bool) -> dict[str, list[str]]:
    cfg = tomllib.loads((ROOT/'pyproject.toml').read_text())
    ok, bad = _declared(cfg, extras), {}
    for f in sorted((ROOT/'tamil_ser').glob('*.py')):
        top, inner = _imports(f)
        for m, ds in _to_dists(inner if extras else top).items():
            if not ds & ok: bad.setdefault(f.name, []).append(m)
    return bad

def test_top_level_imports_are_declared_dependencies():
    assert _undeclared(extras=False) == {}, 'imported at the top of a module but not in [project].dependencies'

def test_lazy_imports_are_declared_dependencies_or_extras():
    assert _undeclared(extras=True) == {}, 'imported in a function but neither a dependency nor an optional extra (dev does not count)'

def test_import_reader_sees_both_kinds(tmp_path):
    f = tmp_path/'m.py'
    f.write_text('import numpy as np, os\nfrom fastcore.basics import patch\nfrom . import x\ndef g():\n    import voila\n    import numpy\n')
    assert _imports(f) == ({'numpy', 'fastcore'}, {'voila'})

def test_missing_extras_say_which_extra_to_install(monkeypatch, tmp_path, capsys):
    "Each optional extra, when missing, is one line naming `pip install \"tamil-ser[EXTRA]\"` (fast: tests/test_predict.py)."
    import pytest, numpy as np, soundfile as sf
    from tamil_ser.core import UserError
    from tamil_ser import data, sample, stream
    for mod in ('sounddevice', 'espeakng_loader', 'emota_loader'): monkeypatch.setitem(sys.modules, mod, None)   # not installed
    with pytest.raises(UserError, match=r'pip install "tamil-ser\[mic\]"'): next(stream.mic_chunks())
    monkeypatch.setattr(sample, '_ES', {})
    with pytest.raises(UserError, match=r'pip install "tamil-ser\[sample\]"'): sample._espeak()
    (tmp_path/'angry').mkdir()
    sf.write(tmp_path/'angry'/'01_01_ang.wav', np.zeros(1600, np.float32), 16000)
    assert len(data.read_emota(tmp_path)) == 1                 # still read, without accent or gender
    assert 'pip install "tamil-ser[emota]"' in capsys.readouterr().out
