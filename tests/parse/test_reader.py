"""The YAML reader: values and positions from one pass over the parser's events.

The corpus pins the wording of each refusal; these pin what a reader must
keep straight on its own: where aliased and merged values were written,
which of several mistakes in one file is reported, and that aliases copy.
"""

from __future__ import annotations

import pytest

from jobrunner.parse import document, nodes, reader, scalars


def read(text: str) -> nodes.Read:
    found = reader.read(text)
    assert found is not None
    return found


def refusal(text: str) -> tuple[str, tuple[int, int], str]:
    doc = document.parse("t.yaml", text.encode())
    (problem,) = doc.problems
    return problem.code, (problem.line, problem.column), problem.path


def test_every_value_and_key_has_its_position() -> None:
    found = read("a:\n  b: [1, x]\n  'c': {d: ~}\n")
    assert found.data == {"a": {"b": [1, "x"], "c": {"d": None}}}
    assert found.values == {
        (): (1, 1),
        ("a",): (2, 3),
        ("a", "b"): (2, 6),
        ("a", "b", 0): (2, 7),
        ("a", "b", 1): (2, 10),
        ("a", "c"): (3, 8),
        ("a", "c", "d"): (3, 12),
    }
    assert found.keys == {
        ("a",): (1, 1),
        ("a", "b"): (2, 3),
        ("a", "c"): (3, 3),
        ("a", "c", "d"): (3, 9),
    }


def test_an_alias_is_placed_where_its_anchor_was_written() -> None:
    found = read("x: &x {p: [1]}\ny: *x\n")
    assert found.data == {"x": {"p": [1]}, "y": {"p": [1]}}
    assert found.values[("y",)] == found.values[("x",)] == (1, 4)
    assert found.values[("y", "p", 0)] == (1, 12)
    assert found.keys[("y", "p")] == (1, 8)


def test_an_alias_copies_what_it_repeats() -> None:
    found = read("x: &x {p: [1]}\ny: *x\n")
    found.data["y"]["p"].append(2)
    assert found.data["x"] == {"p": [1]}


def test_merge_keys_give_way_to_the_mapping_and_to_earlier_sources() -> None:
    text = "a: &a {k: 1, l: 1}\nb: &b {k: 2, m: 2}\nc:\n  <<: [*a, *b]\n  l: 3\n"
    found = read(text)
    assert found.data["c"] == {"l": 3, "k": 1, "m": 2}
    assert found.keys[("c", "k")] == (1, 8)  # where the merged key was written
    assert found.keys[("c", "m")] == (2, 14)
    assert found.values[("c", "l")] == (5, 6)


def test_a_merge_source_may_merge_in_turn() -> None:
    found = read("base: &base {k: 1}\nmid: &mid {<<: *base, m: 2}\nc: {<<: *mid}\n")
    assert found.data["c"] == {"m": 2, "k": 1}


def test_a_tag_that_does_not_fit_its_value_is_refused_where_it_is() -> None:
    # These escaped from PyYAML's constructors as ValueError or KeyError:
    # "internal error" instead of a problem.
    assert refusal("a: 1\nb: !!int /bin/true\n") == ("yaml-tag", (2, 4), "b")
    assert refusal("a: !!bool maybe\n") == ("yaml-tag", (1, 4), "a")
    assert refusal("!!float x\n") == ("yaml-tag", (1, 1), "")
    assert refusal("!!int &k x: 1\nv: *k\n") == ("yaml-tag", (1, 1), "v")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # a syntax error anywhere comes before a duplicate key above it
        ("a: 1\na: 2\nb: [1\n", ("yaml-syntax", (4, 1), "")),
        # too deep a nesting comes before an undefined alias above it
        ("a: *nothing\nb: " + "[" * 101 + "]" * 101 + "\n", ("yaml-depth", (2, 103), "")),
        # an undefined alias (the composer's error) comes before a duplicate key
        ("a: 1\na: 2\nb: *nothing\n", ("yaml-syntax", (3, 4), "")),
        # a second document comes before a tag above it
        ("a: !!set {}\n---\nb: 1\n", ("yaml-syntax", (2, 1), "")),
        # otherwise the first mistake in the file
        ("a: 1\na: 2\nb: !!set {}\n", ("duplicate-key", (2, 1), "a")),
    ],
)
def test_of_several_mistakes_the_weightiest_is_reported(
    text: str, expected: tuple[str, tuple[int, int], str]
) -> None:
    assert refusal(text) == expected


def test_an_alias_nested_too_deep_is_refused_at_the_alias() -> None:
    text = "x: &x " + "[" * 60 + "]" * 60 + "\ny: " + "[" * 50 + "*x" + "]" * 50 + "\n"
    assert refusal(text) == ("yaml-depth", (2, 54), "y" + "[0]" * 50)


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("0", 0),
        ("42", 42),
        ("010", 8),  # YAML 1.1: a leading 0 is octal
        ("1_000", 1000),
        ("+5", 5),
        ("0x1F", 31),
        ("1:30", 90),  # YAML 1.1 sexagesimal
        ("'42'", "42"),
        ("4.5", 4.5),
        ("yes", True),
        ("~", None),
        ("2030-06-01", "2030-06-01"),  # timestamps stay as written
    ],
)
def test_scalars_are_typed_as_pyyaml_types_them(text: str, value: object) -> None:
    assert read(f"a: {text}\nb: [{text}]\n").data == {"a": value, "b": [value]}


def test_the_cache_of_plain_words_stays_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(scalars, "_PLAIN_TAGS_KEPT", 8)
    monkeypatch.setattr(scalars, "plain_tags_seen", {})
    read("".join(f"k{n}: v{n}\n" for n in range(20)))
    assert len(scalars.plain_tags_seen) <= 8
