"""Composing an issue: Markdown rendered once and sanitised, placeholders as slots
filled per recipient and escaped, hostile Markdown removed."""

from __future__ import annotations

from html.parser import HTMLParser

import pytest

from engage.errors import InvalidInput
from engage.newsletters.compose import compile_issue

HOSTILE = """# Hello {{ preferred_name | "colleague" }}

<script>alert("x")</script>
<img src=x onerror=alert(1)>
[click](javascript:alert(1)) [data](data:text/html;base64,PHNjcmlwdD4=)
<a href="https://evil.example" onclick="steal()">raw link</a>
<iframe src="https://evil.example"></iframe>
![pic](https://example.org/a.png "title")
[fine](https://example.org/page?a=1&b=2)
"""


class _Tags(HTMLParser):
    """Every tag and attribute of a document (what a browser would act on)."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.attributes: list[tuple[str, str]] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.attributes.extend((name, value or "") for name, value in attrs)


def live(html: str) -> _Tags:
    parser = _Tags()
    parser.feed(html)
    return parser


def test_hostile_markdown_is_removed():
    issue = compile_issue("Subject", HOSTILE)
    html = str(issue.html_for(issue.fills({})))
    found = live(html)
    assert not {"script", "iframe"} & set(found.tags)
    assert not [name for name, _value in found.attributes if name.startswith("on")]
    urls = [value for name, value in found.attributes if name in ("href", "src")]
    assert urls == ["https://example.org/a.png", "https://example.org/page?a=1&b=2"]
    # Raw HTML is shown as text, links and images by URL kept.
    assert "&lt;script&gt;" in html
    assert '<img src="https://example.org/a.png" alt="pic" title="title">' in html
    assert 'href="https://example.org/page?a=1&amp;b=2"' in html
    assert "<h1>Hello colleague</h1>" in html


def test_markdown_features_render():
    body = "## Heading\n\n- one\n- two\n\n1. first\n\n> quoted\n\n**bold** and *em*"
    html = str(compile_issue("S", body).html_for({}))
    for tag in ("<h2>", "<ul>", "<li>one</li>", "<ol>", "<blockquote>", "<strong>", "<em>"):
        assert tag in html


def test_placeholders_become_slots_filled_and_escaped():
    issue = compile_issue(
        "News for {{ preferred_name }}",
        'Dear {{ rank }} {{ preferred_name | "colleague" }}, '
        "[your page](https://x.org/{{ country }})",
    )
    assert {p.name for p in issue.slots.values()} == {"preferred_name", "rank", "country"}
    fills = issue.fills({"preferred_name": "<b>Ama</b>", "rank": "Col.", "country": "GH"})
    html = str(issue.html_for(fills))
    assert "Dear Col. &lt;b&gt;Ama&lt;/b&gt;," in html
    assert "<b>Ama" not in html
    assert 'href="https://x.org/GH"' in html
    assert issue.subject_for(fills) == "News for <b>Ama</b>"
    assert issue.text_for(fills).startswith("Dear Col. <b>Ama</b>, your page (https://x.org/GH)")


def test_a_value_is_never_markdown():
    issue = compile_issue("S", "Hello {{ preferred_name }}")
    html = str(issue.html_for(issue.fills({"preferred_name": "**[x](javascript:alert(1))**"})))
    assert "<strong>" not in html and "<a " not in html
    assert "**[x](javascript:alert(1))**" in html


def test_sample_fills_show_fallbacks_or_names():
    issue = compile_issue("S", '{{ rank }} {{ preferred_name | "colleague" }}')
    assert issue.html_for(issue.sample_fills()) == "<p>[rank] colleague</p>\n"


def test_the_rendering_is_shared_by_equal_texts():
    assert compile_issue("S", "Body {{ rank }}") is compile_issue("S", "Body {{ rank }}")


def test_text_that_contains_the_token_shape_is_left_alone():
    body = "zqnl0s1e is a word here, {{ rank }}"
    issue = compile_issue("S", body)
    assert issue.text_for({"v0": "Major"}) == "zqnl0s1e is a word here, Major"


def test_bad_placeholders_refuse_to_compile():
    with pytest.raises(InvalidInput):
        compile_issue("S {{ who }}", "Body")
