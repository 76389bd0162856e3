"""Report files: every output path checked before the test, every file written whole.

Through the real ``gturret-hq`` (and ``gturret --standalone``): a path that cannot
take a report is refused in one line with exit 2 before the HQ binds a socket (so
before any turret is contacted); a full disk (a real 64 KB tmpfs, filled) leaves the
previous file or none, never half of one; ``--csv FOLDER`` writes inside the folder
and the log names the files. The writer itself is checked on what it must not
replace: a FIFO, a symbolic link, a file's mode.
"""

from __future__ import annotations

import os
import stat
import subprocess
import threading
from pathlib import Path

import pytest

from gturret.hq.reportfile import write_report
from tests.support.hq_process import HQ, TIMEOUT_S, run_hq_cli
from tests.support.tmpfs import fill, read_only, tmpfs
from tests.support.turret_process import run_cli, write_turret


def refused(*args: str) -> str:
    """Run gturret-hq with ``args``; it must exit 2 before binding; its one error line."""
    done = subprocess.run(
        [str(HQ), "--pub", "0", "--rc", "0", "--wait-timeout", "5s", *args],
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
    )
    assert done.returncode == 2, done.stderr
    assert "HQ bound" not in done.stderr, "the path was checked only once the HQ had bound"
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    return lines[0]


def test_a_folder_a_missing_folder_and_a_folder_csv_file_are_refused(tmp_path: Path) -> None:
    assert f"--json {tmp_path} is a folder" in refused("--json", str(tmp_path))
    missing = tmp_path / "nowhere" / "r.html"
    assert f"the folder {missing.parent} does not exist" in refused("--html", str(missing))
    (tmp_path / "run_history.csv").mkdir()
    line = refused("--csv", str(tmp_path / "run"))
    assert f"--csv {tmp_path / 'run_history.csv'} is a folder" in line
    assert "does not exist" in refused("--csv", f"{tmp_path / 'new'}/")


def test_a_read_only_file_system_is_refused(tmp_path: Path) -> None:
    with tmpfs(tmp_path / "ro") as folder:
        (folder / "old.xml").write_text("previous\n")
        read_only(folder)
        line = refused("--junit", str(folder / "new.xml"))
        assert f"--junit {folder / 'new.xml'}: cannot create a file in {folder}" in line
        assert "Read-only file system" in line
        assert f"--junit {folder / 'old.xml'}: the file is not writable" in refused(
            "--junit", str(folder / "old.xml")
        )


def test_standalone_refuses_a_folder_before_the_turret_starts(tmp_path: Path) -> None:
    config = write_turret(tmp_path, "from gturret import Transaction\n")
    done = run_cli([str(config), "--standalone", "--html", str(tmp_path)], tmp_path)
    assert done.returncode == 2, done.stderr
    assert (
        done.stderr.strip()
        == f"gturret: error: --html {tmp_path} is a folder: give the path of a file"
    )


def test_a_full_disk_leaves_the_previous_file_or_none(tmp_path: Path) -> None:
    with tmpfs(tmp_path / "full") as folder:
        (folder / "report.html").write_text("the previous report\n")
        fill(folder)
        html, report = folder / "report.html", folder / "report.json"
        code, _, err, _ = run_hq_cli("--html", str(html), "--json", str(report))
        assert code == 2, err
        assert f"cannot write the HTML report {html}: [Errno 28] No space left on device" in err
        assert f"cannot write the JSON report {report}" in err
        assert html.read_text() == "the previous report\n"
        assert sorted(path.name for path in folder.iterdir()) == ["filler", "report.html"]


def test_csv_given_a_folder_writes_inside_it_and_names_the_files(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    for given in (str(out), f"{out}/"):
        code, _, err, _ = run_hq_cli("--csv", given)
        assert code == 0, err
        files = [out / f"gturret_{kind}.csv" for kind in ("stats", "history", "errors")]
        assert f"CSV report written to {', '.join(str(file) for file in files)}" in err
        assert all(file.stat().st_size > 0 for file in files)
        assert sorted(tmp_path.iterdir()) == [out], "nothing is written beside the folder"
        for file in files:
            file.unlink()


def test_the_writer_keeps_fifos_links_and_modes(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    received: list[str] = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_text()))
    reader.start()
    write_report(fifo, "through the pipe\n")
    reader.join(timeout=TIMEOUT_S)
    assert received == ["through the pipe\n"] and stat.S_ISFIFO(fifo.stat().st_mode)

    real = tmp_path / "real.json"
    real.write_text("old")
    real.chmod(0o640)
    link = tmp_path / "link.json"
    link.symlink_to(real)
    write_report(link, "new\n")
    assert link.is_symlink() and real.read_text() == "new\n"
    assert stat.S_IMODE(real.stat().st_mode) == 0o640
    assert sorted(path.name for path in tmp_path.iterdir()) == ["fifo", "link.json", "real.json"]


@pytest.mark.parametrize("name", ["new.json", "x" * 250])
def test_a_new_file_gets_the_usual_mode(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    write_report(path, "{}\n")
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~umask
    assert [p.name for p in tmp_path.iterdir()] == [name]
