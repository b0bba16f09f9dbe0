"""The route table: a request path → its compiled operation and path values.

Templates are matched segment by segment (`{name}` takes any one non-empty segment), among
the templates with as many segments, in declaration order — what the framework's router
did, without a regular expression per route.
"""

from __future__ import annotations

from dataclasses import dataclass

from penvoice.web.operations import Operation


@dataclass(frozen=True)
class Template:
    text: str
    segments: tuple[str | None, ...]  # a literal, or None for a parameter
    names: tuple[str, ...]  # the parameters, in order


@dataclass(frozen=True)
class Match:
    template: str
    operation: Operation | None  # None: the path exists, the method does not (405)
    values: dict[str, str]
    allowed: tuple[str, ...]  # the methods of the path, when `operation` is None


def parse_template(text: str) -> Template:
    parts = text.strip("/").split("/") if text != "/" else [""]
    segments = tuple(None if part.startswith("{") else part for part in parts)
    names = tuple(part[1:-1] for part in parts if part.startswith("{"))
    return Template(text, segments, names)


class RouteTable:
    def __init__(self) -> None:
        self._by_shape: dict[int, list[tuple[Template, dict[str, Operation]]]] = {}
        self._templates: dict[str, dict[str, Operation]] = {}

    def add(self, operation: Operation) -> None:
        methods = self._templates.get(operation.template)
        if methods is None:
            methods = {}
            self._templates[operation.template] = methods
            template = parse_template(operation.template)
            self._by_shape.setdefault(len(template.segments), []).append((template, methods))
        if operation.method in methods:
            raise ValueError(f"{operation.method} {operation.template} is declared twice")
        methods[operation.method] = operation

    def operations(self) -> list[Operation]:
        return [op for methods in self._templates.values() for op in methods.values()]

    def match(self, method: str, path: str) -> Match | None:
        parts = path[1:].split("/") if path.startswith("/") else path.split("/")
        for template, methods in self._by_shape.get(len(parts), ()):
            values: dict[str, str] | None = {}
            names = iter(template.names)
            for literal, part in zip(template.segments, parts, strict=True):
                if literal is None:
                    if not part:
                        values = None
                        break
                    values[next(names)] = part  # type: ignore[index]
                elif literal != part:
                    values = None
                    break
            if values is None:
                continue
            operation = methods.get(method)
            allowed = () if operation is not None else tuple(sorted(methods))  # for a 405 only
            return Match(template.text, operation, values, allowed)
        return None
