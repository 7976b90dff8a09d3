"""The Compliance API key from AWS Secrets Manager (setting ``api_key_secret_id``).

The secret is read once at the start of every run, so a key rotated in Secrets Manager is used
by the next run without touching the pipeline. Every failure is one line naming the secret id
(never its value); the key itself is never logged.
"""

from __future__ import annotations

import json
import re
import threading
import typing as t
from urllib.parse import urlparse

from singer_sdk import typing as th

from tap_chatgpt_compliance.errors import ComplianceAPIError

if t.TYPE_CHECKING:
    from collections.abc import Callable, Mapping

SECRET_SETTINGS: dict[str, t.Any] = th.PropertiesList(
    th.Property(
        "api_key_secret_id",
        th.StringType,
        title="API key secret (AWS Secrets Manager)",
        description=(
            "Name or ARN of an AWS Secrets Manager secret holding the Compliance API key, "
            "instead of api_key: a plain string, or a JSON object with an `api_key` field. "
            "Read at the start of every run, so a rotated key is used by the next run. Needs "
            "the `[aws]` extra (boto3) and the usual AWS credentials (role, profile or "
            "AWS_* variables) allowed `secretsmanager:GetSecretValue` on it."
        ),
        examples=["chatgpt-compliance/acme"],
    ),
    th.Property(
        "aws_region",
        th.StringType,
        title="AWS region",
        description=(
            "Region of the api_key_secret_id secret. Default: the region in its ARN, else "
            "AWS_REGION / AWS_DEFAULT_REGION or the AWS profile's."
        ),
    ),
    th.Property(
        "aws_endpoint_url",
        th.StringType,
        title="AWS Secrets Manager endpoint",
        description=(
            "Endpoint of Secrets Manager for api_key_secret_id: a VPC endpoint or a local "
            "emulator. Default: AWS's own for the region."
        ),
    ),
).to_dict()

_ARN_REGION = re.compile(r"^arn:aws[a-z-]*:secretsmanager:([a-z0-9-]+):")
_WHERE = "AWS Secrets Manager secret {sid!r} (api_key_secret_id)"


class SecretError(ComplianceAPIError):
    """The API key could not be read from its secret: one line naming the secret, not its value."""


def with_secret_settings(schema: Mapping[str, t.Any]) -> dict[str, t.Any]:
    """Return the tap's config schema with the Secrets Manager settings after ``api_key``.

    ``api_key`` is then no longer required by the schema: :func:`secret_config_errors` asks
    for exactly one of ``api_key`` and ``api_key_secret_id``.
    """
    properties: dict[str, t.Any] = {}
    for name, prop in schema["properties"].items():
        properties[name] = prop
        if name == "api_key":
            properties.update(SECRET_SETTINGS["properties"])
    properties.update(SECRET_SETTINGS["properties"])  # no-op unless api_key was missing
    out = {**schema, "properties": properties}
    out["required"] = [n for n in schema.get("required", []) if n != "api_key"]
    return out


def secret_config_errors(config: Mapping[str, t.Any]) -> list[str]:
    """One line per problem with how the key is given, naming the setting and the fix."""
    key = str(config.get("api_key") or "").strip()
    sid = str(config.get("api_key_secret_id") or "").strip()
    errors = []
    blank_sid = config.get("api_key_secret_id") is not None and not sid
    if not key and not sid and "api_key" not in config and not blank_sid:
        errors.append(
            "api_key is not set: set api_key to the workspace's Compliance API key, or "
            "api_key_secret_id to the AWS Secrets Manager secret that holds it."
        )
    if key and sid:
        errors.append(
            "api_key and api_key_secret_id are both set: keep one (api_key_secret_id reads "
            "the key from AWS Secrets Manager at the start of every run)."
        )
    if blank_sid:
        errors.append("api_key_secret_id is empty: set it to a secret name or ARN, or remove it.")
    endpoint = str(config.get("aws_endpoint_url") or "").strip()
    if endpoint:
        url = urlparse(endpoint)
        host = url.hostname or ""
        if url.scheme not in ("https", "http") or not host:
            errors.append(
                f"aws_endpoint_url {endpoint!r} is not an http(s) URL: use the Secrets Manager "
                "endpoint, e.g. https://secretsmanager.eu-west-1.amazonaws.com, or remove it."
            )
        elif url.scheme == "http" and not _loopback(host):
            errors.append(
                f"aws_endpoint_url {endpoint!r} is plain http to another machine: the key "
                "would cross the network unencrypted. Use https:// (plain http only for "
                "this machine)."
            )
    return errors


def _loopback(host: str) -> bool:
    from tap_chatgpt_compliance.settings import is_loopback

    return is_loopback(host)


def region_of(secret_id: str, configured: str | None) -> str | None:
    """Return the region to ask: the setting, else the ARN's, else boto3's own default."""
    if configured and configured.strip():
        return configured.strip()
    match = _ARN_REGION.match(secret_id)
    return match.group(1) if match else None


def resolve_api_key(
    config: Mapping[str, t.Any], client_factory: Callable[..., t.Any] | None = None
) -> Mapping[str, t.Any]:
    """Return ``config`` with ``api_key`` read from ``api_key_secret_id`` when that is set.

    Raises :class:`SecretError` (one line naming the secret id) when it cannot be read.
    """
    sid = str(config.get("api_key_secret_id") or "").strip()
    if not sid or str(config.get("api_key") or "").strip():
        return config
    where = _WHERE.format(sid=sid)
    region = region_of(sid, config.get("aws_region"))
    endpoint = str(config.get("aws_endpoint_url") or "").strip() or None
    client = (client_factory or _client)(region, endpoint, where)
    value = _fetch(client, sid, where, region)
    return {**config, "api_key": _key_from(value, where)}


class KeySource:
    """The run's API key, read again once from its secret when the API refuses it (HTTP 401).

    A key rotated in Secrets Manager after the run read it (the old one revoked) would fail
    the run; the run instead reads the secret once more and, only if it now holds another key,
    goes on with that key. At most one read per run: a key refused again fails the run as before.
    """

    def __init__(self, key: str, reread: Callable[[], str], logger: t.Any = None) -> None:
        """``key``: the key read at the start; ``reread``: read the secret again."""
        self.key = key
        self._reread = reread
        self.logger = logger
        self._read_again = False
        self._lock = threading.Lock()

    def after_refusal(self, refused: str) -> str | None:
        """Return the key to send again after ``refused`` got a 401, or None (fail as is).

        Another thread may have read the new key already: then that key, without a read.
        """
        with self._lock:
            if self.key != refused:
                return self.key
            if self._read_again:
                return None
            self._read_again = True
            try:
                key = self._reread()
            except SecretError as exc:
                self._warn(
                    f"The API refused the key (HTTP 401); reading its secret again failed: {exc}"
                )
                return None
            if key == refused:
                return None
            self.key = key
            self._warn(
                "The API refused the key (HTTP 401), and its secret now holds another key "
                "(rotated during the run): going on with it."
            )
            return key

    def _warn(self, line: str) -> None:
        if self.logger is not None:
            self.logger.warning(line)


def key_source(config: Mapping[str, t.Any], key: str, logger: t.Any = None) -> KeySource | None:
    """Return the run's :class:`KeySource` when its key came from ``api_key_secret_id``."""
    if (
        str(config.get("api_key") or "").strip()
        or not str(config.get("api_key_secret_id") or "").strip()
    ):
        return None
    plain = {k: v for k, v in config.items() if k != "api_key"}
    return KeySource(key, lambda: str(resolve_api_key(plain)["api_key"]), logger)


def _client(region: str | None, endpoint: str | None, where: str) -> t.Any:
    try:
        import boto3
        from botocore.config import Config
    except ImportError:
        msg = (
            f"{where} needs boto3, which is not installed: install "
            "tap-chatgpt-compliance[aws] (Meltano: add [aws] to the plugin's pip_url)."
        )
        raise SecretError(msg) from None
    config = Config(
        connect_timeout=10,
        read_timeout=30,
        retries={"max_attempts": 5, "mode": "standard"},
    )
    try:
        return boto3.session.Session().client(
            "secretsmanager", region_name=region, endpoint_url=endpoint, config=config
        )
    except Exception as exc:  # e.g. NoRegionError, a malformed endpoint
        if type(exc).__name__ == "NoRegionError":
            msg = (
                f"{where} cannot be read: no AWS region is set. Set aws_region (or AWS_REGION), "
                "or give the secret's ARN, which names its region."
            )
        else:
            reason = _short(exc).rstrip(".")
            msg = f"{where} cannot be read: {reason}. Set aws_region (or AWS_REGION)."
        raise SecretError(msg) from None


_CODES = {
    "ResourceNotFoundException": "was not found{in_region}: check the name or ARN and aws_region",
    "AccessDeniedException": (
        "cannot be read: access denied. Allow secretsmanager:GetSecretValue on it (and "
        "kms:Decrypt on its KMS key) to the AWS identity the run uses"
    ),
    "DecryptionFailure": (
        "cannot be decrypted: allow kms:Decrypt on its KMS key to the AWS identity the run uses"
    ),
    "InvalidRequestException": (
        "cannot be read: it is scheduled for deletion or disabled. Restore it, or name "
        "another secret"
    ),
    "UnrecognizedClientException": (
        "cannot be read: the AWS credentials are not valid (the access key is unknown)"
    ),
    "InvalidSignatureException": "cannot be read: the AWS secret access key is wrong",
    "ExpiredTokenException": "cannot be read: the AWS session token has expired",
}


def _fetch(client: t.Any, sid: str, where: str, region: str | None) -> str:
    from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

    try:
        answer = client.get_secret_value(SecretId=sid)
    except NoCredentialsError:
        msg = (
            f"{where} cannot be read: no AWS credentials found. Run with a role, "
            "AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY."
        )
        raise SecretError(msg) from None
    except ClientError as exc:
        code = str(exc.response.get("Error", {}).get("Code") or "Unknown")
        in_region = f" in region {region}" if region else ""
        text = _CODES.get(code, f"cannot be read ({code})").format(in_region=in_region)
        raise SecretError(f"{where} {text}.") from None
    except BotoCoreError as exc:
        msg = (
            f"{where} cannot be read: {_short(exc)}. Check aws_region, aws_endpoint_url "
            "and the network."
        )
        raise SecretError(msg) from None
    value = answer.get("SecretString")
    if value is None and answer.get("SecretBinary") is not None:
        try:
            value = bytes(answer["SecretBinary"]).decode("utf-8")
        except (UnicodeDecodeError, TypeError):
            msg = f"{where} holds binary data, not a key: store the key as a secret string."
            raise SecretError(msg) from None
    return str(value or "")


def _key_from(value: str, where: str) -> str:
    text = value.strip()
    if text.startswith("{"):
        try:
            data = json.loads(text)
        except ValueError:
            msg = f"{where} looks like JSON but is not valid JSON: store the key alone or fix it."
            raise SecretError(msg) from None
        if not isinstance(data, dict) or not isinstance(data.get("api_key"), str):
            msg = (
                f"{where} is a JSON object without a string field 'api_key': add it, or "
                "store the key alone."
            )
            raise SecretError(msg)
        text = data["api_key"].strip()
    if not text:
        msg = f"{where} is empty: store the workspace's Compliance API key in it."
        raise SecretError(msg)
    if any(c.isspace() for c in text):
        msg = f"{where} does not hold a key (it contains spaces or line breaks)."
        raise SecretError(msg)
    return text


def _short(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:200] or type(exc).__name__


def name_the_secret(exc: BaseException, config: Mapping[str, t.Any]) -> None:
    """Point a rejected key's error at the secret it came from (the message, not the key)."""
    sid = str(config.get("api_key_secret_id") or "").strip()
    if not sid or not isinstance(exc, ComplianceAPIError) or isinstance(exc, SecretError):
        return
    text = str(exc)
    if "HTTP 401" not in text or "api_key_secret_id" in text:
        return
    exc.args = (
        f"{text} The key came from {_WHERE.format(sid=sid)}: store the new key there; the "
        "next run reads it.",
    )
