"""moto's measured hot spots (py-spy, on the scheduler's tests and the local stack), made cheap.

Every patch changes how fast moto answers, never what it answers; ``AGENTOS_MOTO_SPEED=0``
leaves them all out (:mod:`devtools.moto_patches`, which alone calls :func:`patch`).

* SQS ReceiveMessage: moto 5.2 checks each candidate message's retention by computing
  *all* queue attributes, including counts that walk every message, so receiving from a
  queue of n messages costs O(n) per message. The replacement reads the one attribute it
  needs.
* SQS clock: moto's ``unix_time()`` builds two datetimes per reading (~12 us) and
  SendMessage reads it for every queued message; ``time.time()`` gives the same value.
* DynamoDB TransactWriteItems: moto deep-copies every table a transaction touches, to
  roll back on failure, so each claim cost O(runs in the table) and the suite and the
  local stack slowed down as history grew. The replacement backs up only the items the
  transaction names and restores those on failure.
* DynamoDB expressions: moto re-parses every update expression twice per call (once to
  validate the request, once to apply it) and re-lexes every condition expression, a
  third of a claim's cost. Both depend on the expression string alone (moto's validator
  deep-copies the tree before substituting values), so they are remembered per string.
* DynamoDB condition parses: each condition of a transaction is parsed three times (to
  validate the request, to check it, and again inside the Update it guards), and a claim's
  conditions are long (liveness, overlap slot, maxRuns, budget): over half of a claim's cost.
  The parse's tree depends on the expression and its names alone; the values are bound into
  its leaves afresh on every call, so the tree is remembered per (expression, names).
* DynamoDB answers: moto's generic serializer walks every attribute of every item it returns
  through the AttributeValue shape's ten members (two thirds of a BatchGetItem of ten jobs).
  An attribute value with no binary inside is already in its wire form, and is written as is;
  one with a ``B`` or ``BS`` anywhere still takes the generic way (base64).
* DynamoDB expression validation: the validator walks the tree ten times, asking
  ``isinstance`` of abstract classes at every node (half of an update's time); the answers
  depend on the node's class alone, so they are remembered per class.
* Server routing: moto's server finds each request's service by listing its own package
  directory (~150 ``isdir`` calls) and trying every service's URL regexes, under one
  global lock, for every request: a fifth of the server's time under load. The answer
  depends only on the host name, so it is remembered per host.
* Server connections: werkzeug's default HTTP/1.0 closes the connection after every
  answer, so each AWS call paid a TCP handshake and a new server thread (~1/3 of a
  GetItem on the local stack); moto's request handler now speaks HTTP/1.1 (keep-alive).
"""
from __future__ import annotations

import copy
import time
from typing import Any


class _TablesNotCopied:
    """Stands in for the ``copy`` module inside moto's DynamoDB backend: tables are not copied."""

    def __init__(self, table_type: type) -> None:
        self.table_type = table_type

    def deepcopy(self, value: Any, memo: Any = None) -> Any:
        """Identity for a whole table (its items are backed up one by one instead)."""
        return value if isinstance(value, self.table_type) else copy.deepcopy(value, memo)


def _item_key(backend: Any, op: dict[str, Any]) -> tuple[str, dict[str, Any]] | None:
    table = backend.tables.get(op.get("TableName"))
    if table is None:
        return None
    if "Key" in op:
        return table.name, op["Key"]
    names = [table.hash_key_attr] + ([table.range_key_attr] if table.range_key_attr else [])
    return table.name, {n: op["Item"][n] for n in names if n in op["Item"]}


def _backed_up_transaction(original: Any) -> Any:
    def transact_write_items(self: Any, transact_items: list[dict[str, Any]], *args: Any, **kwargs: Any) -> Any:
        saved = []
        for entry in transact_items:
            found = _item_key(self, next(iter(entry.values())))
            if found is not None:
                item = self.get_item(found[0], found[1])
                saved.append((found, copy.deepcopy(item) if item is not None else None))
        try:
            return original(self, transact_items, *args, **kwargs)
        except Exception:
            for (table_name, key), item in saved:
                if item is None:
                    self.delete_item(table_name, key)
                else:
                    self.put_item(table_name, item.to_json()["Attributes"])
            raise
    return transact_write_items


def _remembered_routing() -> None:
    """Memoize the server's host -> service lookup (a pure function of the host name)."""
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication

    original = DomainDispatcherApplication.get_backend_for_host
    known: dict[str | None, Any] = {}

    def get_backend_for_host(self: Any, host: str | None) -> Any:
        if host not in known:
            known[host] = original(self, host)
        return known[host]

    DomainDispatcherApplication.get_backend_for_host = get_backend_for_host


def _remembered_expressions() -> None:
    """Memoize moto's parse of update expressions and lexing of condition expressions."""
    from collections import deque
    from functools import lru_cache

    from moto.dynamodb.comparisons import ConditionExpressionParser
    from moto.dynamodb.parsing.expressions import UpdateExpressionParser

    parse: Any = lru_cache(maxsize=512)(UpdateExpressionParser.make.__func__)
    UpdateExpressionParser.make = classmethod(parse)
    lex: Any = lru_cache(maxsize=512)(lambda parser_type, expression: tuple(
        parser_type(expression, None, None)._lex_condition_expression_uncached()))
    ConditionExpressionParser._lex_condition_expression_uncached = \
        ConditionExpressionParser._lex_condition_expression
    ConditionExpressionParser._lex_condition_expression = \
        lambda self: deque(lex(type(self), self.condition_expression))


def _bound(parser: Any, node: Any) -> Any:
    """``node``'s tree with each value placeholder's leaf holding ``parser``'s value for it
    (subtrees without one are shared, not copied)."""
    if node.kind == parser.Kind.EXPRESSION_ATTRIBUTE_VALUE:
        return tuple.__new__(type(node), (node.nonterminal, node.kind, node.text,
                                          parser.expression_attribute_values[node.text], node.children))
    if not node.children:
        return node
    children = [_bound(parser, child) for child in node.children]
    if all(new is old for new, old in zip(children, node.children, strict=True)):
        return node
    return tuple.__new__(type(node), (node.nonterminal, node.kind, node.text, node.value, children))


def _parsed_tree(parser: Any) -> Any:
    """ConditionExpressionParser.parse's steps up to the tree it makes its condition from."""
    nodes = parser._parse_paths(parser._lex_condition_expression())
    for step in (parser._apply_functions, parser._apply_comparator, parser._apply_in, parser._apply_between,
                 parser._apply_parens_and_booleans):
        nodes = step(nodes)
    node = nodes[0]
    parser._assert_no_redundant_parentheses(node)
    return node


def _remembered_conditions() -> None:
    """Memoize the tree of a condition expression per (expression, names); bind values per call."""
    from moto.dynamodb.comparisons import ConditionExpressionParser

    original = ConditionExpressionParser.parse
    trees: dict[tuple[str, tuple[tuple[str, str], ...]], tuple[Any, list[str], list[str]]] = {}

    def parse(self: Any) -> Any:
        if not self.condition_expression:
            return original(self)
        key = (self.condition_expression, tuple(sorted((self.expression_attribute_names or {}).items())))
        known = trees.get(key)
        values = self.expression_attribute_values or {}
        if known is None or any(name not in values for name in known[2]):
            node = _parsed_tree(self)  # raises as moto's parse does: nothing is remembered
            known = (node, self._find_literals(node), self._find_expr_attr_values(node))
            if len(trees) < 4096:
                trees[key] = known
        node, names_found, values_found = known
        self.expr_attr_names_found.extend(names_found)
        self.expr_attr_values_found.extend(values_found)
        return self._make_op_condition(_bound(self, node))

    ConditionExpressionParser.parse = parse


_SCALARS = {"S": str, "N": str, "BOOL": bool, "NULL": bool}


def _wire_ready(value: Any) -> bool:
    """True if the AttributeValue ``value`` is already what the JSON protocol sends (no binary)."""
    if not isinstance(value, dict) or len(value) != 1:
        return False
    (kind, inner), = value.items()
    if kind in _SCALARS:
        return type(inner) is _SCALARS[kind]
    if kind in ("SS", "NS"):
        return isinstance(inner, list) and all(type(v) is str for v in inner)
    if kind == "M":
        return isinstance(inner, dict) and all(type(k) is str and _wire_ready(v) for k, v in inner.items())
    if kind == "L":
        return isinstance(inner, list) and all(_wire_ready(v) for v in inner)
    return False


def _plain_attribute_values() -> None:
    """Serialize an AttributeValue without binary as it is; any other shape as moto does."""
    from moto.core.serialize import BaseJSONSerializer

    original = BaseJSONSerializer._serialize_type_structure

    def _serialize_type_structure(self: Any, serialized: Any, value: Any, shape: Any, key: str) -> None:
        if shape.name == "AttributeValue" and key and _wire_ready(value):
            self._default_serialize(serialized, value, shape, key)
            return
        original(self, serialized, value, shape, key)

    BaseJSONSerializer._serialize_type_structure = _serialize_type_structure


def _typed_traversal() -> None:
    """moto's DepthFirstTraverser, with its per-node isinstance checks remembered per class."""
    from moto.dynamodb.parsing.ast_nodes import DepthFirstTraverser, Node

    original = DepthFirstTraverser.traverse_node_recursively
    is_node: dict[type, bool] = {}
    handler_key: dict[tuple[type, type], Any] = {}

    def key_for(traverser: Any, node_type: type) -> Any:
        found = handler_key.get((type(traverser), node_type), handler_key)
        if found is handler_key:  # first time: the first map key the class is a subclass of, as process() picks
            found = next((k for k in traverser._processing_map() if issubclass(node_type, k)), None)
            handler_key[(type(traverser), node_type)] = found
        return found

    def traverse_node_recursively(self: Any, node: Any, child_id: int = -1) -> Any:
        if type(self).process is not DepthFirstTraverser.process:
            return original(self, node, child_id)
        node_type = type(node)
        if node_type not in is_node:
            is_node[node_type] = issubclass(node_type, Node)
        if not is_node[node_type]:
            return node
        parent_node = node.parent
        if node.children is not None:
            for i, child_node in enumerate(node.children):
                self.pre_processing_of_child(node, i)
                self.traverse_node_recursively(child_node, i)
        key = key_for(self, node_type)
        if key is not None:
            node = self._processing_map()[key](node)
            node.parent = parent_node
            if parent_node:
                parent_node.children[child_id] = node
        return node

    DepthFirstTraverser.traverse_node_recursively = traverse_node_recursively


def _keep_alive() -> None:
    """moto's server keeps each client connection open between calls (HTTP/1.1)."""
    from moto.moto_server.werkzeug_app import MotoRequestHandler

    MotoRequestHandler.protocol_version = "HTTP/1.1"


def _cheap_sqs_clock() -> None:
    """moto's SQS reads ``time.time()`` for "now" instead of building two datetimes."""
    import moto.sqs.models as sqs_models

    slow_time, slow_millis = sqs_models.unix_time, sqs_models.unix_time_millis
    sqs_models.unix_time = lambda dt=None: time.time() if dt is None else slow_time(dt)
    sqs_models.unix_time_millis = lambda dt=None: time.time() * 1000.0 if dt is None else slow_millis(dt)


def _one_attribute_retention() -> None:
    """moto's retention check reads the queue's retention period alone."""
    from moto.sqs.models import SQSBackend

    def is_message_valid_based_on_retention_period(self: Any, queue_name: str, message: Any) -> bool:
        retention = int(self.get_queue(queue_name).message_retention_period)
        return bool(retention + message.sent_timestamp / 1000 > time.time())

    SQSBackend.is_message_valid_based_on_retention_period = is_message_valid_based_on_retention_period


def _item_backed_transactions() -> None:
    """TransactWriteItems backs up the items it names, not every table it touches."""
    import moto.dynamodb.models as dynamodb_models
    from moto.dynamodb.models.table import Table

    dynamodb_models.copy = _TablesNotCopied(Table)
    backend = dynamodb_models.DynamoDBBackend
    backend.transact_write_items = _backed_up_transaction(backend.transact_write_items)


def patch() -> None:
    """Apply every patch above (once: :mod:`devtools.moto_patches` sees to it).

    What each replaces in moto:

    * ``moto.sqs.models.unix_time`` and ``unix_time_millis`` (:func:`_cheap_sqs_clock`);
    * ``SQSBackend.is_message_valid_based_on_retention_period`` (:func:`_one_attribute_retention`);
    * ``moto.dynamodb.models.copy`` and the DynamoDB backend's ``transact_write_items``
      (:func:`_item_backed_transactions`);
    * ``UpdateExpressionParser.make`` and ``ConditionExpressionParser._lex_condition_expression``
      (:func:`_remembered_expressions`);
    * ``ConditionExpressionParser.parse`` (:func:`_remembered_conditions`);
    * ``BaseJSONSerializer._serialize_type_structure`` (:func:`_plain_attribute_values`);
    * ``DepthFirstTraverser.traverse_node_recursively`` (:func:`_typed_traversal`);
    * ``DomainDispatcherApplication.get_backend_for_host`` (:func:`_remembered_routing`);
    * ``MotoRequestHandler.protocol_version``, set to HTTP/1.1 (:func:`_keep_alive`).
    """
    _cheap_sqs_clock()
    _one_attribute_retention()
    _item_backed_transactions()
    _remembered_expressions()
    _remembered_conditions()
    _plain_attribute_values()
    _typed_traversal()
    _remembered_routing()
    _keep_alive()
