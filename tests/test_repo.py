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
