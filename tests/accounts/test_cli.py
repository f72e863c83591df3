"""``engage user create|list`` and ``engage token create`` as real processes."""

from __future__ import annotations

import pytest

from engage.accounts.api_tokens import authenticate_token
from engage.accounts.models import EmbassyAssignment, Role, User
from engage.mail.models import OutboxMessage
from tests.conftest import TEST_SECRET
from tests.factories import PASSWORD
from tests.test_demo_pages import engage_env, run_engage

pytestmark = pytest.mark.slow


@pytest.fixture
def cli(db_url, tmp_path):
    env = engage_env(
        ENGAGE_DATABASE__URL=db_url,
        ENGAGE_APP__SECRET_KEY=TEST_SECRET,
        ENGAGE_APP__VAR_DIR=str(tmp_path / "var"),
        ENGAGE_APP__LOG_FORMAT="text",
        ENGAGE_SECURITY__ARGON2_TIME_COST="1",
        ENGAGE_SECURITY__ARGON2_MEMORY_KIB="64",
        ENGAGE_SECURITY__ARGON2_PARALLELISM="1",
    )

    def run(*args: str, stdin: str | None = None):
        import subprocess

        from tests.test_demo_pages import engage_command

        if stdin is None:
            return run_engage(*args, cwd=tmp_path, env=env)
        return subprocess.run(
            [*engage_command(), *args],
            cwd=tmp_path,
            env=env,
            input=stdin,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    return run


async def test_create_with_password_list_and_token(cli, db, make_embassy):
    await make_embassy(code="NBO")
    made = cli(
        "user",
        "create",
        "--email",
        "Root@Example.org",
        "--role",
        "admin",
        "--password-stdin",
        stdin=PASSWORD + "\n",
    )
    assert made.returncode == 0, made.stderr
    assert "created admin Root@Example.org" in made.stdout
    admin = await User.get(email_key="root@example.org")
    assert admin.role == Role.ADMIN and admin.email_verified_at is not None
    assert admin.password_hash.startswith("$argon2id$")

    invited = cli(
        "user", "create", "--email", "att@example.org", "--role", "attache", "--embassy", "NBO"
    )
    assert invited.returncode == 0, invited.stderr
    assert "invitation email queued" in invited.stdout
    attache = await User.get(email_key="att@example.org")
    assert attache.password_hash is None
    assert await EmbassyAssignment.filter(user_id=attache.id).count() == 1
    row = await OutboxMessage.get(template="account_invite")
    assert row.to_address == "att@example.org"
    assert set(row.context) == {"user", "version", "role"}, "no token in the outbox"

    listing = cli("user", "list")
    assert listing.returncode == 0, listing.stderr
    lines = listing.stdout.splitlines()
    assert lines[0].split()[:3] == ["id", "email", "role"]
    assert any(
        "Root@Example.org" in line and "admin" in line and "active" in line for line in lines
    )
    assert any("att@example.org" in line and "invited" in line and "NBO" in line for line in lines)

    token = cli("token", "create", "--email", "root@example.org", "--name", "nightly export")
    assert token.returncode == 0, token.stderr
    raw = token.stdout.strip()
    assert raw.startswith("eng_") and "\n" not in raw
    user = await authenticate_token(raw)
    assert user is not None and user.id == admin.id


async def test_bad_input_is_one_line_and_a_non_zero_status(cli, db, make_user):
    await make_user(email="taken@example.org")
    cases = [
        (("user", "create", "--email", "x@example.org", "--role", "king"), None, 2, "unknown role"),
        (
            ("user", "create", "--email", "x@example.org", "--role", "staff", "--password-stdin"),
            "\n",
            2,
            "no password",
        ),
        (
            ("user", "create", "--email", "x@example.org", "--role", "staff", "--password-stdin"),
            "password\n",
            1,
            "too easy to guess",
        ),
        (
            ("user", "create", "--email", "taken@example.org", "--role", "staff"),
            None,
            1,
            "already exists",
        ),
        (
            ("user", "create", "--email", "y@example.org", "--role", "attache", "--embassy", "ZZZ"),
            None,
            1,
            "No embassy with code ZZZ",
        ),
        (
            ("user", "create", "--email", "z@example.org", "--role", "attache"),
            None,
            1,
            "at least one embassy",
        ),
        (
            ("user", "create", "--email", "not-an-address", "--role", "staff"),
            None,
            1,
            "valid email address",
        ),
        (("token", "create", "--email", "nobody@example.org"), None, 1, "no active account"),
    ]
    for args, stdin, status, text in cases:
        result = cli(*args, stdin=stdin)
        assert result.returncode == status, (args, result.stdout, result.stderr)
        assert result.stderr.startswith("engage: "), result.stderr
        assert result.stderr.count("\n") == 1, result.stderr
        assert text in result.stderr, result.stderr
    assert await User.all().count() == 1
