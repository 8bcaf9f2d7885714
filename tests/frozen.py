"Read-only files and folders in tests that also run as root: root ignores permission bits but not the immutable flag."
import contextlib, os, shutil, stat, subprocess
import pytest

def _chattr(flag: str, path) -> bool:
    return subprocess.run(['chattr', flag, str(path)], capture_output=True).returncode == 0

@contextlib.contextmanager
def frozen(*paths):
    "Make `paths` read-only for the block: `chattr +i` as root (the test is skipped where that is refused), else `chmod a-w`."
    done = []
    try:
        for p in paths:
            if os.geteuid() == 0:
                if not (shutil.which('chattr') and _chattr('+i', p)):
                    pytest.skip('running as root, and the immutable flag (chattr +i) cannot be set here')
                done.append((p, None))
            else:
                mode = os.stat(p).st_mode
                os.chmod(p, stat.S_IMODE(mode) & ~0o222)
                done.append((p, mode))
        yield
    finally:
        for p, mode in reversed(done):
            if mode is None: _chattr('-i', p)
            else: os.chmod(p, mode)
