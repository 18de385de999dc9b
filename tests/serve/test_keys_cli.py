"""``skinscan keys create | list | revoke`` against the service's own database."""

from __future__ import annotations

import secrets

from serve_support import Served
from typer.testing import CliRunner

from skinscan.cli import app


def _env(served: Served) -> dict[str, str]:
    env = {"SKINSCAN_DATA_DIR": str(served.settings.data_dir), "SKINSCAN_ENVIRONMENT": "test"}
    if served.settings.database_url:
        env["SKINSCAN_DATABASE_URL"] = served.settings.database_url
    return env


def test_keys_create_list_revoke(served: Served) -> None:
    runner = CliRunner()
    clinic = f"cli-clinic-{secrets.token_hex(3)}"
    created = runner.invoke(
        app, ["keys", "create", "--clinic", clinic, "--role", "clinician"], env=_env(served)
    )
    assert created.exit_code == 0, created.output
    key = created.stdout.strip().splitlines()[-1]
    assert key.startswith("sks_")
    headers = {"Authorization": f"Bearer {key}"}
    patient = served.client.post("/api/v1/patients", json={"external_id": "p"}, headers=headers)
    assert patient.status_code == 201

    integration = runner.invoke(
        app, ["keys", "create", "--clinic", clinic, "--role", "integration"], env=_env(served)
    )
    reader = {"Authorization": f"Bearer {integration.stdout.strip().splitlines()[-1]}"}
    path = f"/api/v1/patients/{patient.json()['id']}"
    assert served.client.get(path, headers=reader).status_code == 200

    key_id = key.split("_")[1]
    listed = runner.invoke(app, ["keys", "list", "--clinic", clinic], env=_env(served))
    assert listed.exit_code == 0, listed.output
    assert key_id in listed.stdout
    assert "integration" in listed.stdout
    assert key.split("_", 2)[2] not in listed.stdout

    revoked = runner.invoke(app, ["keys", "revoke", key_id], env=_env(served))
    assert revoked.exit_code == 0, revoked.output
    assert served.client.get(path, headers=headers).status_code == 401
    assert served.client.get(path, headers=reader).status_code == 200


def test_keys_cli_refuses_bad_input(served: Served) -> None:
    runner = CliRunner()
    bad_role = runner.invoke(
        app, ["keys", "create", "--clinic", "x", "--role", "admin"], env=_env(served)
    )
    assert bad_role.exit_code == 2
    assert "role" in bad_role.stderr
    unknown = runner.invoke(app, ["keys", "revoke", "ffffffffffff"], env=_env(served))
    assert unknown.exit_code == 2
    assert "no key" in unknown.stderr


def test_serve_migrate_only(served: Served) -> None:
    result = CliRunner().invoke(app, ["serve", "--migrate-only"], env=_env(served))
    assert result.exit_code == 0, result.output
    assert "latest schema" in result.stdout
