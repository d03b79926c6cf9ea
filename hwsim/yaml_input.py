"""YAML from users, read with bounds: no alias bombs, no duplicate keys, one error line for anything wrong.

PyYAML's safe loader shares an aliased node instead of copying it, so a "billion laughs" document
(nine levels of ten aliases) loads quickly and then costs minutes and gigabytes when anything walks
it.  :func:`load_yaml` counts the nodes a document has once every alias is expanded (linear in the
document: each node's expanded size is computed once) and refuses it past :data:`MAX_NODES`.  A
mapping that names a key twice is refused with both lines (YAML says keys are unique; PyYAML keeps
the last silently).  Merge keys (``<<: *base``) still work, and a key given next to a merge
overrides the merged one, as YAML specifies.
"""

from __future__ import annotations

from typing import Any

import yaml

from .errors import HwsimError

MAX_NODES = 200_000  # scalars, sequences and mappings once aliases are expanded (configs have hundreds)
MAX_DEPTH = 100  # nesting of sequences and mappings


class _BoundedLoader(yaml.SafeLoader):
    """A SafeLoader that refuses duplicate keys (constructing) and over-large expansions (after composing)."""

    def construct_mapping(self, node, deep=False):
        if isinstance(node, yaml.MappingNode):
            seen: dict = {}
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue
                key = self.construct_object(key_node, deep=True)
                try:
                    first = seen.get(key)
                except TypeError:  # an unhashable key: the base constructor says so
                    break
                line = key_node.start_mark.line + 1
                if first is not None:
                    raise _Refused(f"duplicate key {str(key)[:80]!r} at line {line} (first at line {first}); "
                                   f"give each key once")
                seen[key] = line
        return super().construct_mapping(node, deep)


class _Refused(Exception):
    """A document the bounds refuse (the message says why)."""


def _expanded_size(root) -> int:
    """Nodes of the document with every alias expanded, without expanding it (each distinct node sized once)."""
    sizes: dict[int, int] = {}
    stack = [(root, False, 0)]
    while stack:
        node, children_done, depth = stack.pop()
        if id(node) in sizes:
            continue
        if depth > MAX_DEPTH:
            raise _Refused(f"nested deeper than {MAX_DEPTH} levels")
        if isinstance(node, yaml.SequenceNode):
            kids = list(node.value)
        elif isinstance(node, yaml.MappingNode):
            kids = [n for pair in node.value for n in pair]
        else:
            sizes[id(node)] = 1
            continue
        if children_done:
            sizes[id(node)] = min(1 + sum(sizes[id(k)] for k in kids), 10 * MAX_NODES)
            continue
        stack.append((node, True, depth))
        stack.extend((k, False, depth + 1) for k in kids if id(k) not in sizes)
    return sizes[id(root)]


def load_yaml(text: str, source: str) -> Any:
    """The document in ``text`` (from ``source``, for messages), or one HwsimError saying what is wrong."""
    loader = None
    try:
        loader = _BoundedLoader(text)  # the reader checks the characters here (a control character is an error)
        node = loader.get_single_node()
        if node is None:
            return None
        size = _expanded_size(node)
        if size > MAX_NODES:
            raise _Refused(f"expands to more than {MAX_NODES:,} values once its aliases are resolved "
                           f"(an alias bomb?); allowed up to {MAX_NODES:,}")
        return loader.construct_document(node)
    except _Refused as exc:
        raise HwsimError(f"{source}: refused YAML: {exc}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        what = getattr(exc, "problem", None) or str(exc)
        raise HwsimError(f"{source}: not valid YAML{where}: {' '.join(str(what).split())}") from None
    except RecursionError:
        raise HwsimError(f"{source}: not valid YAML: nested too deeply") from None
    finally:
        if loader is not None:
            loader.dispose()
