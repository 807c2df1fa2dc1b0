"""``flowgateway keygen`` never overwrites a key unasked, never writes through a symbolic
link, and leaves the private key at mode 0600 whatever the umask or the file it replaces."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from gateway import cli

PASSPHRASE = "correct horse battery"
OLD = b"old key material\n"


@pytest.fixture(scope="module")
def key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(autouse=True)
def one_key(key: rsa.RSAPrivateKey, monkeypatch: pytest.MonkeyPatch) -> None:
    """One key for the whole module: generating RSA-2048 costs ~0.1 s each time."""
    monkeypatch.setattr(rsa, "generate_private_key", lambda **_: key)
    monkeypatch.setenv("FLOW_KEY_PASS", PASSPHRASE)


@pytest.fixture
def umask() -> Iterator[Any]:
    """Set the process umask for one test, restoring it afterwards."""
    previous = os.umask(0o022)
    try:
        yield os.umask
    finally:
        os.umask(previous)


def keygen(private: Path, public: Path, *extra: str) -> int:
    return cli.main(
        ["keygen", "--private", str(private), "--public", str(public),
         "--passphrase-env", "FLOW_KEY_PASS", *extra]
    )  # fmt: skip


def paths(tmp_path: Path) -> tuple[Path, Path]:
    return tmp_path / "flow-private.pem", tmp_path / "flow-public.pem"


def mode(path: Path) -> int:
    return path.stat().st_mode & 0o777


@pytest.mark.parametrize("existing", ["private", "public"])
def test_an_existing_key_file_is_not_overwritten_without_force(
    tmp_path: Path, existing: str, capsys: pytest.CaptureFixture[str]
) -> None:
    private, public = paths(tmp_path)
    there, other = (private, public) if existing == "private" else (public, private)
    there.write_bytes(OLD)
    assert keygen(private, public) == 2
    assert there.read_bytes() == OLD
    assert not other.exists()
    err = capsys.readouterr().err
    assert f"{there} exists" in err
    assert "--force" in err
    assert "nothing was written" in err


@pytest.mark.parametrize("mask", [0o000, 0o022, 0o077, 0o277], ids=oct)
def test_force_replaces_a_0644_key_with_a_0600_one_whatever_the_umask(
    tmp_path: Path, mask: int, umask: Any
) -> None:
    from gateway.endpoint import load_private_key

    private, public = paths(tmp_path)
    for path in (private, public):
        path.write_bytes(OLD)
        path.chmod(0o644)
    umask(mask)
    assert keygen(private, public, "--force") == 0
    assert mode(private) == 0o600
    assert mode(public) == 0o644
    assert load_private_key(private.read_bytes(), PASSPHRASE).key_size == 2048
    assert public.read_bytes().startswith(b"-----BEGIN PUBLIC KEY-----")
    assert sorted(p.name for p in tmp_path.iterdir()) == [private.name, public.name]  # no temps


@pytest.mark.parametrize("mask", [0o000, 0o277], ids=oct)
def test_a_new_private_key_is_0600_whatever_the_umask(
    tmp_path: Path, mask: int, umask: Any
) -> None:
    private, public = paths(tmp_path)
    umask(mask)
    assert keygen(private, public) == 0
    assert (mode(private), mode(public)) == (0o600, 0o644)


@pytest.mark.parametrize("force", [[], ["--force"]], ids=["", "force"])
@pytest.mark.parametrize("dangling", [False, True], ids=["to-a-file", "dangling"])
@pytest.mark.parametrize("linked", ["private", "public"])
def test_a_symbolic_link_is_never_followed_even_with_force(
    tmp_path: Path,
    linked: str,
    dangling: bool,
    force: list[str],
    capsys: pytest.CaptureFixture[str],
) -> None:
    private, public = paths(tmp_path)
    link, other = (private, public) if linked == "private" else (public, private)
    target = tmp_path / "elsewhere.pem"
    if not dangling:
        target.write_bytes(OLD)
        target.chmod(0o644)
    link.symlink_to(target)
    assert keygen(private, public, *force) == 2
    assert link.is_symlink()
    if dangling:
        assert not target.exists()
    else:
        assert (target.read_bytes(), mode(target)) == (OLD, 0o644)
    assert not other.exists()
    assert "symbolic link" in capsys.readouterr().err


def test_a_directory_or_one_path_for_both_keys_is_refused(tmp_path: Path) -> None:
    private, public = paths(tmp_path)
    private.mkdir()
    assert keygen(private, public, "--force") == 2
    assert not public.exists()
    assert keygen(public, public) == 2
    assert not public.exists()


def test_nothing_is_written_when_the_second_file_cannot_be(tmp_path: Path) -> None:
    private, _ = paths(tmp_path)
    assert keygen(private, tmp_path / "missing-dir" / "pub.pem") == 2
    assert list(tmp_path.iterdir()) == []


def test_a_file_created_after_the_check_is_not_overwritten(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """O_EXCL, not the up-front check, is what guarantees it: simulate losing the race."""
    monkeypatch.setattr(cli, "_keygen_refusal", lambda *_, **__: None)
    private, public = paths(tmp_path)
    public.write_bytes(OLD)
    assert keygen(private, public) == 2
    assert public.read_bytes() == OLD
    assert not private.exists()  # the half-written pair is removed
    assert "appeared" in capsys.readouterr().err


def test_force_replaces_a_link_that_appeared_after_the_check_instead_of_following_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cli, "_keygen_refusal", lambda *_, **__: None)
    private, public = paths(tmp_path)
    target = tmp_path / "elsewhere.pem"
    target.write_bytes(OLD)
    target.chmod(0o644)
    private.symlink_to(target)
    assert keygen(private, public, "--force") == 0
    assert not private.is_symlink()
    assert mode(private) == 0o600
    assert (target.read_bytes(), mode(target)) == (OLD, 0o644)
