"""`crypto-alerts thresholds ...`: read, change and check the thresholds document in SSM (architecture.md §2.3).

Every write is validated first with the same code the pipeline uses (`thresholds.effective`), so an
edit the pipeline would reject never reaches SSM. The stored document stays partial: only the keys
an operator set are written, the built-in defaults fill the rest.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from cryptoalerts import thresholds
from cryptoalerts.thresholds import InvalidThresholds
from infra.cli.context import CliError, Context, describe


def add_parser(subparsers: Any, common: argparse.ArgumentParser) -> None:
    parser = subparsers.add_parser("thresholds", help="show, change or check the thresholds document")
    commands = parser.add_subparsers(dest="thresholds_command", required=True, metavar="COMMAND")

    show = commands.add_parser("show", parents=[common], help="print the effective document (defaults + stored)")
    show.add_argument("--stored", action="store_true", help="print the stored (partial) document instead")
    show.set_defaults(handler=show_command)

    set_ = commands.add_parser("set", parents=[common], help="set one value by dotted path, e.g. oi.BTC.change_pct 12")
    set_.add_argument("path", help="dotted path into the document, e.g. liquidation.ETH.min_usd")
    set_.add_argument("value", help='JSON value (12, 0.5, ["BTC","ETH"]); anything else is taken as a string')
    set_.set_defaults(handler=set_command)

    edit = commands.add_parser("edit", parents=[common], help="edit the stored document in $EDITOR")
    edit.set_defaults(handler=edit_command)

    validate = commands.add_parser("validate", parents=[common], help="check a document file ('-' for stdin)")
    validate.add_argument("file")
    validate.set_defaults(handler=validate_command)

    for sub in (show, set_, edit):
        sub.add_argument(
            "--parameter",
            help="SSM parameter name (default: $THRESHOLDS_PARAMETER or /crypto-alerts/<stage>/thresholds)",
        )


def dumps(document: Any) -> str:
    return json.dumps(document, ensure_ascii=False, indent=2)


class Store:
    """The thresholds parameter in SSM."""

    def __init__(self, ctx: Context, name: str) -> None:
        self.ctx = ctx
        self.name = name

    def read_raw(self) -> str | None:
        """The stored text, or None when the parameter does not exist."""
        ssm = self.ctx.client("ssm")
        try:
            return str(ssm.get_parameter(Name=self.name)["Parameter"]["Value"])
        except ssm.exceptions.ParameterNotFound:
            return None
        except (ClientError, BotoCoreError) as exc:
            raise CliError(f"cannot read {self.name}: {describe(exc)}") from None

    def read_stored(self) -> dict[str, Any]:
        """The stored document as an object; a stored text that is not a JSON object is an error."""
        raw = self.read_raw()
        if raw is None or not raw.strip():
            return {}
        try:
            stored = json.loads(raw)
        except ValueError:
            raise CliError(
                f"the stored document in {self.name} is not valid JSON; fix it with `crypto-alerts thresholds edit`"
            ) from None
        if not isinstance(stored, dict):
            raise CliError(f"the stored document in {self.name} is not a JSON object; fix it with `thresholds edit`")
        return stored

    def set(self, values: Mapping[str, Any]) -> dict[str, Any]:
        """Set dotted paths (`oi.BTC.change_pct`) in the stored document and write it, validated as a
        whole: one invalid value and nothing is written (InvalidThresholds). Returns the stored document."""
        updated = self.read_stored()
        for path, value in values.items():
            updated = thresholds.set_path(updated, path, value)
        self.write(updated)
        return updated

    def write(self, document: dict[str, Any]) -> None:
        """Validate, then store. Raises InvalidThresholds (nothing written) for a document the pipeline
        would reject."""
        thresholds.effective(document)
        text = json.dumps(document, ensure_ascii=False, separators=(",", ":"))
        try:
            self.ctx.client("ssm").put_parameter(Name=self.name, Value=text, Type="String", Overwrite=True)
        except (ClientError, BotoCoreError) as exc:
            raise CliError(f"cannot write {self.name}: {describe(exc)}") from None


def _store(args: argparse.Namespace) -> Store:
    ctx = Context.from_args(args)
    return Store(ctx, ctx.thresholds_parameter(args.parameter))


def show_command(args: argparse.Namespace) -> int:
    store = _store(args)
    if args.stored:
        print(dumps(store.read_stored()))
        return 0
    raw = store.read_raw()
    try:
        effective = thresholds.parse(raw)
    except InvalidThresholds as exc:
        raise CliError(
            f"the stored document in {store.name} is invalid ({exc.field}: {exc.reason}); the pipeline keeps "
            "the last valid document in force. Fix it with `crypto-alerts thresholds edit`"
        ) from None
    print(dumps(effective.document))
    return 0


def parse_value(text: str) -> Any:
    """A command-line VALUE: JSON when it parses (12, 0.5, true, [..], {..}), else the text itself."""
    try:
        return json.loads(text)
    except ValueError:
        return text


def set_command(args: argparse.Namespace) -> int:
    store = _store(args)
    updated = store.set({args.path: parse_value(args.value)})
    value = thresholds.effective(updated).document
    for part in args.path.split("."):
        value = value[part]
    print(
        f"{args.path} = {json.dumps(value, ensure_ascii=False)} stored in {store.name}; in force everywhere within 60 s"
    )
    return 0


def validate_command(args: argparse.Namespace) -> int:
    text = _read_file(args.file)
    try:
        effective = thresholds.parse(text)
    except InvalidThresholds as exc:
        raise CliError(f"{args.file}: invalid: {exc.field}: {exc.reason}") from None
    print(f"{args.file}: valid ({len(effective.symbols)} symbols: {', '.join(effective.symbols)})")
    return 0


def _read_file(name: str) -> str:
    if name == "-":
        return sys.stdin.read()
    try:
        return Path(name).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise CliError(f"cannot read {name}: {exc}") from None


def edit_command(args: argparse.Namespace) -> int:
    store = _store(args)
    original = store.read_stored()
    text = dumps(original) + "\n"
    with tempfile.TemporaryDirectory(prefix="crypto-alerts-") as tmp:
        path = Path(tmp) / "thresholds.json"
        while True:
            path.write_text(text, encoding="utf-8")
            _run_editor(path)
            text = path.read_text(encoding="utf-8")
            try:
                document = _edited_document(text)
                thresholds.effective(document)
            except InvalidThresholds as exc:
                print(f"invalid: {exc.field}: {exc.reason}", file=sys.stderr)
                if _ask_again():
                    continue
                raise CliError(f"nothing written to {store.name}: {exc.field}: {exc.reason}") from None
            break
    if document == original:
        print(f"no change; {store.name} left as it was")
        return 0
    store.write(document)
    print(f"stored in {store.name}; in force everywhere within 60 s")
    return 0


def _edited_document(text: str) -> dict[str, Any]:
    if not text.strip():
        return {}
    try:
        document = json.loads(text)
    except ValueError as exc:
        raise InvalidThresholds("(document)", f"not valid JSON: {exc}") from None
    if not isinstance(document, dict):
        raise InvalidThresholds("(document)", "must be a JSON object")
    return document


def _run_editor(path: Path) -> None:
    editor = os.environ.get("VISUAL") or os.environ.get("EDITOR") or "vi"
    command = [*shlex.split(editor), str(path)]
    try:
        result = subprocess.run(command, check=False)
    except OSError as exc:
        raise CliError(f"cannot start the editor {editor!r} (set $EDITOR): {exc}") from None
    if result.returncode != 0:
        raise CliError(f"the editor {editor!r} exited with status {result.returncode}; nothing written")


def _ask_again() -> bool:
    """Offer another round in the editor, only when someone is at the terminal."""
    if not sys.stdin.isatty():
        return False
    answer = input("Edit again? [Y/n] ").strip().lower()
    return answer in ("", "y", "yes")
