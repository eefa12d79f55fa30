"""moto's DynamoDB transactions and expressions, made cheap (:func:`patch`, from :func:`devtools.moto_speed.patch`).

Like every speed patch, each changes how fast moto answers, never what it answers
(``tests/test_moto_patches.py`` compares the answers with and without them).

* TransactWriteItems: moto deep-copies every table a transaction touches, to roll back on
  failure, so each claim cost O(runs in the table) and the suite and the local stack slowed
  down as history grew. The replacement backs up only the items the transaction names and
  restores those on failure.
* Expressions: moto re-parses every update expression twice per call (once to validate the
  request, once to apply it) and re-lexes every condition expression. Both depend on the
  expression string alone (moto's validator copies the tree before substituting values), so
  they are remembered per string.
* Condition parses: each condition of a transaction is parsed three times (to validate the
  request, to check it, and again inside the Update or Put it guards), and a claim's
  conditions are long (liveness, overlap slot, maxRuns, budget). The parse's tree depends on
  the expression and its names alone; the values are bound into its leaves afresh, so the
  tree is remembered per (expression, names).
* Condition operators: the operators moto makes of a bound tree depend on the tree and the
  values alone, and nothing changes them once made (their ``expr(item)`` only reads), so the
  last few hundred are remembered per (expression, names, values): a transaction's second
  and third parse of each condition reuse its first.
* Validation traversals: the validator walks the tree ten times, asking ``isinstance`` of
  abstract classes at every node (and, resolving names, of four action classes at every
  child); the answers depend on the node's class alone, so they are remembered per class,
  and children that are not nodes (names, indexes) are not visited (a visit returns them).
* The validator's copy: moto deep-copies the (remembered) update-expression tree before each
  validation. A parsed tree is plain (Node objects holding ``type``, ``children`` and
  ``parent``; leaves strings and ints; each node once, under its parent), so it is copied
  node by node into the same structure ``copy.deepcopy`` makes, without its memo and
  ``__reduce_ex__`` machinery. Any other tree still goes through ``copy.deepcopy``.
* The validator's first three checks (one clause of each kind, no overlapping paths, no key
  attribute updated) read the pristine tree, the expression's names and the table's key
  attributes only, and change nothing: once they passed for a remembered tree with those
  names and keys, they are not walked again. A failure is never remembered.
"""
from __future__ import annotations

import copy
from typing import Any

_TREES_KEPT = 512  # as many parsed update expressions as moto's remembered parses
_OPS_KEPT = 256  # condition operator trees: a transaction parses each of its own three times
_LEAF_TYPES = (str, int, bool)  # what a parsed tree's leaves hold: deepcopy returns them as they are


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


def _item_backed_transactions() -> None:
    """TransactWriteItems backs up the items it names, not every table it touches."""
    import moto.dynamodb.models as dynamodb_models
    from moto.dynamodb.models.table import Table

    dynamodb_models.copy = _TablesNotCopied(Table)
    backend = dynamodb_models.DynamoDBBackend
    backend.transact_write_items = _backed_up_transaction(backend.transact_write_items)


class _Tree:
    """A parsed update expression handed out by the remembered parse (so shared, never changed)."""

    __slots__ = ("root", "plain", "passed")

    def __init__(self, root: Any) -> None:
        self.root = root
        self.plain = _is_plain(root)
        self.passed: set[Any] = set()  # (names, key attributes) the first three checks passed with


_plain_classes: dict[type, bool] = {}


def _plain_class(cls: type) -> bool:
    """True if ``copy.deepcopy`` copies a ``cls`` instance by its ``__dict__`` alone (no hook of its own)."""
    if cls not in _plain_classes:
        _plain_classes[cls] = (not hasattr(cls, "__deepcopy__") and cls.__reduce_ex__ is object.__reduce_ex__
                               and cls.__reduce__ is object.__reduce__ and cls.__getstate__ is object.__getstate__
                               and not hasattr(cls, "__setstate__") and not hasattr(cls, "__slots__"))
    return _plain_classes[cls]


def _is_plain(root: Any) -> bool:
    """True if ``root`` is a tree :func:`_copy_tree` copies exactly as ``copy.deepcopy`` does."""
    if root.parent is not None:
        return False
    seen: set[int] = set()
    stack = [root]
    while stack:
        node = stack.pop()
        if id(node) in seen or not _plain_class(type(node)) or list(vars(node)) != ["type", "children", "parent"]:
            return False
        seen.add(id(node))
        if type(node.type) is not str or not (node.children is None or type(node.children) is list):
            return False
        for child in node.children or ():
            if type(child) not in _LEAF_TYPES:
                if getattr(child, "parent", None) is not node or not hasattr(child, "children"):
                    return False
                stack.append(child)
    return True


def _copy_tree(node: Any, parent: Any) -> Any:
    """What ``copy.deepcopy`` makes of a plain tree's ``node`` (``parent``: the copy of its parent)."""
    cls: Any = type(node)
    new = cls.__new__(cls)
    children = node.children
    if children is not None:
        children = [child if type(child) in _LEAF_TYPES else _copy_tree(child, new) for child in children]
    new.__dict__.update(type=node.type, children=children, parent=parent)
    return new


def _remembered_expressions(trees: dict[int, _Tree]) -> None:
    """Memoize moto's parse of update expressions (each recorded in ``trees``) and lexing of conditions."""
    from collections import deque
    from functools import lru_cache

    from moto.dynamodb.comparisons import ConditionExpressionParser
    from moto.dynamodb.parsing.expressions import UpdateExpressionParser

    parse: Any = lru_cache(maxsize=_TREES_KEPT)(UpdateExpressionParser.make.__func__)

    def make(cls: Any, expression: str) -> Any:
        root = parse(cls, expression)
        known = trees.get(id(root))
        if known is None or known.root is not root:  # the record keeps root alive: its id is not reused
            if len(trees) >= 2 * _TREES_KEPT:
                trees.clear()
            trees[id(root)] = _Tree(root)
        return root

    UpdateExpressionParser.make = classmethod(make)
    lex: Any = lru_cache(maxsize=512)(lambda parser_type, expression: tuple(
        parser_type(expression, None, None)._lex_condition_expression_uncached()))
    ConditionExpressionParser._lex_condition_expression_uncached = \
        ConditionExpressionParser._lex_condition_expression
    ConditionExpressionParser._lex_condition_expression = \
        lambda self: deque(lex(type(self), self.condition_expression))


def _plain_tree_copies(trees: dict[int, _Tree]) -> None:
    """The validator copies a remembered plain tree node by node; anything else as moto did."""
    import moto.dynamodb.parsing.validators as validators

    def deepcopy(value: Any, memo: Any = None) -> Any:
        known = trees.get(id(value))
        if memo is None and known is not None and known.root is value and known.plain:
            return _copy_tree(value, None)
        return copy.deepcopy(value, memo)

    validators.deepcopy = deepcopy


def _checks_passed_once(trees: dict[int, _Tree]) -> None:
    """The validator's three pure checks run once per (remembered tree, names, key attributes) that passes them."""
    from moto.dynamodb.parsing import validators

    pure = [validators.ActionCountValidator, validators.OverlappingPathsValidator,
            validators.UpdateHashRangeKeyValidator]
    validator = validators.UpdateExpressionValidator
    original_init, original_validate = validator.__init__, validator.validate

    def __init__(self: Any, expression: Any, *args: Any, **kwargs: Any) -> None:
        original_init(self, expression, *args, **kwargs)
        self.remembered_source = expression

    def validate(self: Any) -> Any:
        known = trees.get(id(self.remembered_source))
        if known is None or known.root is not self.remembered_source or not known.plain \
                or [type(p) for p in self.processors[:3]] != pure:
            return original_validate(self)
        names = self.expression_attribute_names
        try:
            key = (None if names is None else tuple(sorted(names.items())), tuple(self.table.table_key_attrs))
            hash(key)
        except TypeError:  # names that are not strings: moto's way
            return original_validate(self)
        node = self.node_to_validate
        if key not in known.passed:
            for processor in self.processors[:3]:
                node = processor.traverse(node)  # raises as moto does: nothing is remembered
            if len(known.passed) < 64:
                known.passed.add(key)
        for processor in self.processors[3:]:
            node = processor.traverse(node)
        return node

    validator.__init__ = __init__
    validator.validate = validate


def _bound(parser: Any, node: Any, values: dict[str, Any]) -> Any:
    """``node``'s tree with each value placeholder's leaf holding its value in ``values``
    (subtrees without one are shared, not copied)."""
    if node.kind == parser.Kind.EXPRESSION_ATTRIBUTE_VALUE:
        return tuple.__new__(type(node), (node.nonterminal, node.kind, node.text, values[node.text], node.children))
    if not node.children:
        return node
    children = [_bound(parser, child, values) for child in node.children]
    if all(new is old for new, old in zip(children, node.children, strict=True)):
        return node
    return tuple.__new__(type(node), (node.nonterminal, node.kind, node.text, node.value, children))


def _private(value: Any) -> Any:
    """An equal copy of the attribute value ``value`` that shares nothing mutable with it."""
    if type(value) is dict:
        return {key: _private(inner) for key, inner in value.items()}
    if type(value) is list:
        return [_private(inner) for inner in value]
    return value if type(value) in (str, bool, bytes, int, float, type(None)) else copy.deepcopy(value)


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
    """Memoize the tree of a condition per (expression, names), and its operators per values too."""
    from moto.dynamodb.comparisons import ConditionExpressionParser

    original = ConditionExpressionParser.parse
    trees: dict[tuple[str, tuple[tuple[str, str], ...]], tuple[Any, list[str], list[str]]] = {}
    ops: dict[tuple[Any, ...], Any] = {}

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
        if any(name not in values for name in values_found):  # moto's error, as before
            return self._make_op_condition(_bound(self, node, self.expression_attribute_values))
        # repr tells values apart: they are JSON's strings, booleans, lists and maps, or bytes
        op_key = (key, tuple(repr(values[name]) for name in values_found))
        op = ops.get(op_key)
        if op is None:  # made of private copies of the values: a request's own may change later (a set put in an item)
            private = {name: _private(values[name]) for name in values_found}
            op = self._make_op_condition(_bound(self, node, private))  # raises as moto's does: nothing is remembered
            if len(ops) >= _OPS_KEPT:
                del ops[next(iter(ops))]  # the oldest
            ops[op_key] = op
        return op

    ConditionExpressionParser.parse = parse


_NOT_A_NODE = object()  # the handler "key" of a child that is not a Node (a name, an index): nothing to visit


def _typed_traversal() -> None:
    """moto's DepthFirstTraverser, with its per-node isinstance checks remembered per class."""
    from moto.dynamodb.parsing.ast_nodes import DepthFirstTraverser, Node

    original = DepthFirstTraverser.traverse_node_recursively
    keys_by_traverser: dict[type, dict[type, Any]] = {}

    def key_for(traverser: Any, keys: dict[type, Any], node_type: type) -> Any:
        """The first map key ``node_type`` is a subclass of, as process() picks (None: none; or not a Node)."""
        if not issubclass(node_type, Node):
            found: Any = _NOT_A_NODE
        else:
            found = next((k for k in traverser._processing_map() if issubclass(node_type, k)), None)
        keys[node_type] = found
        return found

    def visit(self: Any, node: Any, child_id: int, hook: bool, keys: dict[type, Any]) -> Any:
        key = keys.get(type(node), keys)
        if key is keys:
            key = key_for(self, keys, type(node))
        if key is _NOT_A_NODE:
            return node
        parent_node = node.parent
        if node.children is not None:
            for i, child_node in enumerate(node.children):
                if hook:  # only a traverser that has its own hook: the base one does nothing
                    self.pre_processing_of_child(node, i)
                if keys.get(type(child_node)) is not _NOT_A_NODE:  # visiting a plain child returns it unchanged
                    visit(self, child_node, i, hook, keys)
        if key is not None:
            node = self._processing_map()[key](node)
            node.parent = parent_node
            if parent_node:
                parent_node.children[child_id] = node
        return node

    def traverse_node_recursively(self: Any, node: Any, child_id: int = -1) -> Any:
        kind = type(self)
        if kind.process is not DepthFirstTraverser.process \
                or kind.traverse_node_recursively is not traverse_node_recursively:
            return original(self, node, child_id)
        keys = keys_by_traverser.get(kind)
        if keys is None:
            keys = keys_by_traverser[kind] = {}
        hook = kind.pre_processing_of_child is not DepthFirstTraverser.pre_processing_of_child
        return visit(self, node, child_id, hook, keys)

    DepthFirstTraverser.traverse_node_recursively = traverse_node_recursively
    _typed_resolving_hook()


def _typed_resolving_hook() -> None:
    """The resolving processor's per-child hook, with its isinstance of four action classes remembered per class."""
    from moto.dynamodb.parsing import ast_nodes
    from moto.dynamodb.parsing.validators import ExpressionAttributeResolvingProcessor

    actions = (ast_nodes.UpdateExpressionSetAction, ast_nodes.UpdateExpressionRemoveAction,
               ast_nodes.UpdateExpressionDeleteAction, ast_nodes.UpdateExpressionAddAction)
    is_action: dict[type, bool] = {}

    def pre_processing_of_child(self: Any, parent_node: Any, child_id: int) -> None:
        kind = type(parent_node)
        if kind not in is_action:
            is_action[kind] = issubclass(kind, actions)
        if is_action[kind]:  # an action's first child is the path it sets, the others are resolved
            self.resolving = child_id != 0

    ExpressionAttributeResolvingProcessor.pre_processing_of_child = pre_processing_of_child


def patch() -> None:
    """Apply every patch above. What each replaces in moto:

    * ``moto.dynamodb.models.copy`` and the DynamoDB backend's ``transact_write_items``
      (:func:`_item_backed_transactions`);
    * ``UpdateExpressionParser.make`` and ``ConditionExpressionParser._lex_condition_expression``
      (:func:`_remembered_expressions`);
    * ``ConditionExpressionParser.parse`` (:func:`_remembered_conditions`);
    * ``DepthFirstTraverser.traverse_node_recursively`` and ``ExpressionAttributeResolvingProcessor``'s
      ``pre_processing_of_child`` (:func:`_typed_traversal`);
    * ``moto.dynamodb.parsing.validators.deepcopy`` (:func:`_plain_tree_copies`);
    * ``UpdateExpressionValidator.__init__`` and ``validate`` (:func:`_checks_passed_once`).
    """
    trees: dict[int, _Tree] = {}  # id(root) -> record, for each tree the remembered parse handed out
    _item_backed_transactions()
    _remembered_expressions(trees)
    _remembered_conditions()
    _typed_traversal()
    _plain_tree_copies(trees)
    _checks_passed_once(trees)
