"""Matching measured on real text: everyday watchlist queries over the ANT sample.

Runs the newsroom queries of ``QUERIES`` (or those given with ``--query``) over the
2,000 real articles of the ANT sample (../shared/fixtures/real, read in place and never
copied: its licence is unclear) and prints, per query, the articles matched, the hits,
and the *forms* found: a hit's text normalized as the matcher compares it (ة as ه, no
harakat), most frequent first. What a rule change did is read from these forms.

With ``--against REV`` the same queries also run on the engine of a git revision, loaded
beside the working tree's (``engine_copy`` of matching_ab.py), and each query shows the
articles and forms gained and lost. A hit is one place: query, article, field, start and
end; a hit whose span grew is one hit lost and one gained.

``--sample N`` prints N hits per query drawn at random (fixed ``--seed``; each query has
its own draw, so a change to one query leaves the others' samples alone), each with
eight words of context either side and the hit marked ⟦ ⟧, for a reviewer to judge;
``--sample-gained`` draws only from the hits gained against ``--against``, ``--unjudged``
only from hits not yet judged. ``--write-sample FILE`` writes that sample as judgment
lines with ``"correct": null`` to fill in and append to the judgments file.

The judgments file (``bench/real_text_judgments.jsonl``, absent or empty is fine) holds
one judged hit a line: ``{"query", "docno", "field", "start", "text", "correct", "note"}``,
matched to a found hit by query, docno, field and start. The report gives, per query and
overall, the precision over the judged hits the engine still finds, the judged-correct
hits it lost, the judged-false hits it still finds, and how many found hits nobody has
judged. A note starts ``form:`` when the word is not the query's word (صلاحية for صلاح)
and ``sense:`` when it is, meant otherwise (a march for طائرة مسيرة): rules can fix the
first kind only.

    .venv/bin/python bench/real_text.py [--corpus PATH] [--query Q ...] [--json]
    .venv/bin/python bench/real_text.py --against HEAD~3 --sample 5 --sample-gained
    .venv/bin/python bench/real_text.py --sample 5 --unjudged --write-sample /tmp/judge.jsonl

Exits 2 when the corpus is missing, saying where it looked. Ends with the CPU seconds.
"""

from __future__ import annotations

import argparse
import importlib
import json
import random
import re
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from matching_ab import engine_copy

from monitor.arabic.normalize import normalize
from monitor.arabic.tokenize import WORD

ROOT = Path(__file__).resolve().parents[1]
ANT_SAMPLE = ROOT.parent / "shared" / "fixtures" / "real" / "ant_corpus_v2.1_sample.jsonl"
JUDGMENTS = ROOT / "bench" / "real_text_judgments.jsonl"
CONTEXT_WORDS = 8
SEED = 15
AGAINST_PACKAGE = "engine_against"

# What a newsroom watches. The sample is from 2018: some queries (كورونا, سد النهضة)
# may find little or nothing, which is itself a figure.
QUERIES = [
    # Countries and places: a country's query should also find its adjective (العراقية).
    "العراق",
    "سوريا",
    "لبنان",
    "إيران",
    "تركيا",
    "روسيا",
    "أمريكا",
    "السعودية",
    "مصر",
    "اليمن",
    "القدس",
    "الخليج",
    # The economy desk.
    "اقتصاد",
    "نفط",
    "بورصة",
    "استثمار",
    "تضخم",
    # Institutions, several of them names of more than one word.
    "حكومة",
    "سفارة",
    "وزارة الخارجية",
    "البرلمان",
    "الأمم المتحدة",
    "مجلس الأمن",
    "جامعة الدول العربية",
    # People and organisations: names that are also words (صلاح, حماس) or sit inside
    # other names (سليماني in السليمانية, the Iraqi city).
    "بوتين",
    "ترامب",
    "حماس",
    "حزب الله",
    "صلاح",
    "سليماني",
    "داعش",
    # Events and weapons: مسيرة is also a march, هجوم also a football attack.
    "طائرة مسيرة",
    "صاروخ",
    "انتخابات",
    "اتفاق نووي",
    "لاجئ",
    "هجوم",
    "سد النهضة",
    "كورونا",
]


@dataclass(frozen=True, slots=True)
class Article:
    docno: str
    source: str
    title: str
    body: str


@dataclass(frozen=True, slots=True)
class Found:
    """One hit of one query in one article; ``form`` is its text as the matcher compares."""

    query: str
    docno: str
    field: str
    start: int
    end: int
    text: str
    form: str

    @property
    def place(self) -> tuple[str, str, str, int, int]:
        return (self.query, self.docno, self.field, self.start, self.end)

    @property
    def judged_as(self) -> tuple[str, str, str, int]:
        """The key a judgment line names (a judgment survives a span that grew)."""
        return (self.query, self.docno, self.field, self.start)


@dataclass(frozen=True, slots=True)
class Figures:
    """One query over the corpus: articles matched, hits, and forms most frequent first."""

    query: str
    articles: int
    hits: int
    forms: list[tuple[str, int]]
    refused: str | None = None


@dataclass(frozen=True, slots=True)
class Change:
    """One query's hits on the working tree against those of another revision."""

    query: str
    articles_before: int
    hits_before: int
    articles_gained: list[str]
    articles_lost: list[str]
    forms_gained: list[tuple[str, int]]
    forms_lost: list[tuple[str, int]]
    gained: list[Found]


@dataclass(frozen=True, slots=True)
class Judgment:
    query: str
    docno: str
    field: str
    start: int
    text: str
    correct: bool | None
    note: str

    @property
    def key(self) -> tuple[str, str, str, int]:
        return (self.query, self.docno, self.field, self.start)


@dataclass(frozen=True, slots=True)
class Precision:
    """Judged hits the engine still finds, per query: how many, how many correct, and
    how many found hits nobody judged."""

    query: str
    judged: int
    correct: int
    unjudged: int

    @property
    def value(self) -> float | None:
        return self.correct / self.judged if self.judged else None


@dataclass(frozen=True, slots=True)
class Verdicts:
    per_query: list[Precision]
    correct_lost: list[Judgment]
    false_found: list[Judgment]
    not_run: int

    @property
    def overall(self) -> Precision:
        return Precision(
            "overall",
            sum(row.judged for row in self.per_query),
            sum(row.correct for row in self.per_query),
            sum(row.unjudged for row in self.per_query),
        )


def read_articles(path: Path) -> list[Article]:
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]
    return [
        Article(
            str(row.get("docno") or f"line{number}"),
            row.get("source") or "",
            row.get("title") or "",
            row.get("body") or "",
        )
        for number, row in enumerate(rows, 1)
    ]


def form_of(text: str) -> str:
    """A hit's text as the matcher compares it, whitespace folded."""
    return " ".join(normalize(text).split())


@contextmanager
def engine(revision: str) -> Iterator[str]:
    """The name of a package holding the engine of git ``revision``, importable while the
    context lasts (the working tree's stays ``monitor``)."""
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        engine_copy(revision, folder, AGAINST_PACKAGE)
        _forget(AGAINST_PACKAGE)
        sys.path.insert(0, str(folder))
        try:
            yield AGAINST_PACKAGE
        finally:
            sys.path.remove(str(folder))
            _forget(AGAINST_PACKAGE)


def _forget(package: str) -> None:
    for module in [name for name in sys.modules if name.split(".")[0] == package]:
        del sys.modules[module]


def find_hits(
    package: str, queries: Sequence[str], articles: Iterable[Article]
) -> tuple[dict[str, list[Found]], dict[str, str]]:
    """Every hit of every query (one index over all, each query its own watchlist) with
    ``package``'s engine, and the queries it refused with its message."""
    matching = importlib.import_module(f"{package}.matching")
    errors = importlib.import_module(f"{package}.errors")
    refused: dict[str, str] = {}
    for query in queries:
        try:
            matching.parse_query(query)
        except errors.QuerySyntaxError as error:
            refused[query] = str(error)
    index = matching.compile_watchlists({q: [q] for q in queries if q not in refused})
    found: dict[str, list[Found]] = {query: [] for query in queries}
    for article in articles:
        matched = index.match_fields({"title": article.title, "body": article.body})
        for query, hits in matched.items():
            found[query].extend(
                Found(
                    query, article.docno, hit.field, hit.start, hit.end, hit.text, form_of(hit.text)
                )
                for hit in hits
            )
    return found, refused


def most_frequent(forms: Iterable[str]) -> list[tuple[str, int]]:
    return sorted(Counter(forms).items(), key=lambda pair: (-pair[1], pair[0]))


def figures_of(query: str, hits: list[Found], refused: str | None = None) -> Figures:
    return Figures(
        query,
        len({hit.docno for hit in hits}),
        len(hits),
        most_frequent(hit.form for hit in hits),
        refused,
    )


def compare(query: str, before: list[Found], after: list[Found]) -> Change:
    """What ``after`` gained and lost against ``before``, by article and by form."""
    before_places = {hit.place for hit in before}
    after_places = {hit.place for hit in after}
    gained = [hit for hit in after if hit.place not in before_places]
    lost = [hit for hit in before if hit.place not in after_places]
    articles_before = {hit.docno for hit in before}
    articles_after = {hit.docno for hit in after}
    return Change(
        query,
        len(articles_before),
        len(before),
        sorted(articles_after - articles_before),
        sorted(articles_before - articles_after),
        most_frequent(hit.form for hit in gained),
        most_frequent(hit.form for hit in lost),
        gained,
    )


def read_judgments(path: Path) -> list[Judgment]:
    """The judged hits of ``path``; none when it is absent or empty. A later line about
    the same hit replaces an earlier one."""
    if not path.exists():
        return []
    judgments: dict[tuple[str, str, str, int], Judgment] = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            judgment = Judgment(
                row["query"],
                row["docno"],
                row["field"],
                int(row["start"]),
                row.get("text", ""),
                row.get("correct"),
                row.get("note") or "",
            )
        except (ValueError, KeyError, TypeError) as error:
            raise SystemExit(f"{path}:{number}: not a judgment line ({error})") from error
        judgments[judgment.key] = judgment
    return list(judgments.values())


def judge(found: dict[str, list[Found]], judgments: list[Judgment]) -> Verdicts:
    """Precision of ``found`` over the judged hits it still holds (a judgment whose
    ``correct`` is null is not yet a judgment), per query in ``found``'s order."""
    decided = {j.key: j for j in judgments if j.correct is not None and j.query in found}
    found_keys = {hit.judged_as for hits in found.values() for hit in hits}
    per_query = []
    for query, hits in found.items():
        keys = {hit.judged_as for hit in hits}
        mine = [decided[key] for key in keys if key in decided]
        per_query.append(
            Precision(
                query,
                len(mine),
                sum(1 for j in mine if j.correct),
                len(keys) - len(mine),
            )
        )
    ordered = sorted(decided.values(), key=lambda j: (j.query, j.docno, j.field, j.start))
    return Verdicts(
        per_query,
        [j for j in ordered if j.correct and j.key not in found_keys],
        [j for j in ordered if not j.correct and j.key in found_keys],
        sum(1 for j in judgments if j.query not in found),
    )


def draw(hits: list[Found], size: int, seed: int) -> list[Found]:
    """``size`` of ``hits`` at random, the same ones for the same hits and seed."""
    if not hits:
        return []
    ordered = sorted(hits, key=lambda hit: hit.place)
    rng = random.Random(f"{seed}:{hits[0].query}")
    picked = rng.sample(ordered, min(size, len(ordered)))
    return sorted(picked, key=lambda hit: hit.place)


_SPACES = re.compile(r"[^\S\n]+")
_BREAKS = re.compile(r"\s*\n\s*")


def _fold(text: str) -> str:
    return _BREAKS.sub(" ¶ ", _SPACES.sub(" ", text))


def context(text: str, start: int, end: int, words: int = CONTEXT_WORDS) -> str:
    """``words`` words either side of ``text[start:end]``, marked ⟦ ⟧; ¶ is a line break
    (a phrase never matches across one), … where the text goes on."""
    before = list(WORD.finditer(text, 0, start))[-words:]
    after = []
    for match in WORD.finditer(text, end):
        if len(after) == words:
            break
        after.append(match)
    left = before[0].start() if before else start
    right = after[-1].end() if after else end
    return (
        ("…" if text[:left].strip() else "")
        + _fold(text[left:start])
        + f"⟦{_fold(text[start:end])}⟧"
        + _fold(text[end:right])
        + ("…" if text[right:].strip() else "")
    )


def sample_rows(sample: list[Found], articles: dict[str, Article]) -> list[dict[str, Any]]:
    rows = []
    for hit in sample:
        article = articles[hit.docno]
        text = article.title if hit.field == "title" else article.body
        rows.append(
            {
                "query": hit.query,
                "docno": hit.docno,
                "source": article.source,
                "field": hit.field,
                "start": hit.start,
                "text": hit.text,
                "context": context(text, hit.start, hit.end),
            }
        )
    return rows


def write_sample(path: Path, sample: list[Found]) -> None:
    lines = [
        json.dumps(
            {
                "query": hit.query,
                "docno": hit.docno,
                "field": hit.field,
                "start": hit.start,
                "text": hit.text,
                "correct": None,
                "note": "",
            },
            ensure_ascii=False,
        )
        for hit in sample
    ]
    path.write_text("".join(f"{line}\n" for line in lines), encoding="utf-8")


def _where(query: str, docno: str, field: str, start: int) -> str:
    return f"[{query}] {docno} {field}@{start}"


def _forms_line(forms: list[tuple[str, int]]) -> str:
    return " · ".join(f"{form} {count}" for form, count in forms) or "—"


def _percent(value: float | None) -> str:
    return "—" if value is None else f"{100 * value:.0f}%"


def print_report(
    figures: list[Figures],
    changes: dict[str, Change],
    sample: list[dict[str, Any]],
    verdicts: Verdicts | None,
    verdicts_before: Verdicts | None,
) -> None:
    refusal = {
        row.query: f"  REFUSED: {row.refused.splitlines()[0]}" if row.refused else ""
        for row in figures
    }
    if changes:
        print("\narticles  before  gained  lost    hits  before  forms  query")
        for row in figures:
            change = changes[row.query]
            print(
                f"{row.articles:8d}  {change.articles_before:6d}  "
                f"{'+' + str(len(change.articles_gained)):>6}  "
                f"{'-' + str(len(change.articles_lost)):>4}  {row.hits:6d}  "
                f"{change.hits_before:6d}  {len(row.forms):5d}  {row.query}{refusal[row.query]}"
            )
    else:
        print("\narticles    hits  forms  query")
        for row in figures:
            print(
                f"{row.articles:8d}  {row.hits:6d}  {len(row.forms):5d}  "
                f"{row.query}{refusal[row.query]}"
            )
    print("\nForms found, most frequent first (normalized: ة is ه):")
    for row in figures:
        print(f"{row.query}: {_forms_line(row.forms)}")
    if changes:
        print("\nForms gained and lost against the other revision:")
        moved = [c for c in changes.values() if c.forms_gained or c.forms_lost]
        for change in moved:
            print(
                f"{change.query}: articles +{len(change.articles_gained)} "
                f"-{len(change.articles_lost)}"
            )
            if change.forms_gained:
                print(f"  gained: {_forms_line(change.forms_gained)}")
            if change.forms_lost:
                print(f"  lost:   {_forms_line(change.forms_lost)}")
        if not moved:
            print("no query gained or lost a hit")
    if sample:
        print("\nSampled hits (judge each: do the words mean what the query means here?):")
        for row in sample:
            where = _where(row["query"], row["docno"], row["field"], row["start"])
            print(f"{where}: {row['context']}")
    if verdicts is not None:
        _print_verdicts(verdicts, verdicts_before)


def _print_verdicts(verdicts: Verdicts, before: Verdicts | None) -> None:
    print("\njudged  correct  precision  unjudged found  query")
    for row in [*verdicts.per_query, verdicts.overall]:
        if row.judged or row.query == "overall":
            print(
                f"{row.judged:6d}  {row.correct:7d}  {_percent(row.value):>9}  "
                f"{row.unjudged:14d}  {row.query}"
            )
    if before is not None:
        overall = before.overall
        print(
            f"the other revision: {overall.correct} of {overall.judged} judged hits it finds "
            f"are correct ({_percent(overall.value)})"
        )
    if verdicts.not_run:
        print(f"({verdicts.not_run} judgments are about queries not run)")
    false = verdicts.false_found
    print(f"\nJudged correct, now lost: {len(verdicts.correct_lost)}")
    for j in verdicts.correct_lost:
        print(f"  {_where(j.query, j.docno, j.field, j.start)} {j.text}  {j.note}")
    kinds = Counter(j.note.partition(":")[0] if ":" in j.note else "unsaid" for j in false)
    said = ", ".join(f"{kind} {count}" for kind, count in sorted(kinds.items()))
    print(f"Judged false, still found: {len(false)}{f' ({said})' if said else ''}")
    for j in verdicts.false_found:
        print(f"  {_where(j.query, j.docno, j.field, j.start)} {j.text}  {j.note}")


def _precision_json(row: Precision) -> dict[str, Any]:
    return {
        "judged": row.judged,
        "correct": row.correct,
        "precision": row.value,
        "unjudged": row.unjudged,
    }


def _judgment_json(j: Judgment) -> dict[str, Any]:
    return {
        "query": j.query,
        "docno": j.docno,
        "field": j.field,
        "start": j.start,
        "text": j.text,
        "correct": j.correct,
        "note": j.note,
    }


def report_json(
    figures: list[Figures],
    changes: dict[str, Change],
    sample: list[dict[str, Any]],
    verdicts: Verdicts | None,
) -> dict[str, Any]:
    precision = {row.query: row for row in verdicts.per_query} if verdicts else {}
    queries = []
    for row in figures:
        entry: dict[str, Any] = {
            "query": row.query,
            "articles": row.articles,
            "hits": row.hits,
            "forms": dict(row.forms),
            "refused": row.refused,
        }
        if row.query in changes:
            change = changes[row.query]
            entry["against"] = {
                "articles": change.articles_before,
                "hits": change.hits_before,
                "articles_gained": change.articles_gained,
                "articles_lost": change.articles_lost,
                "forms_gained": dict(change.forms_gained),
                "forms_lost": dict(change.forms_lost),
            }
        if row.query in precision:
            entry["judged"] = _precision_json(precision[row.query])
        queries.append(entry)
    result: dict[str, Any] = {"queries": queries}
    if verdicts is not None:
        result["judgments"] = {
            "overall": _precision_json(verdicts.overall),
            "correct_lost": [_judgment_json(j) for j in verdicts.correct_lost],
            "false_found": [_judgment_json(j) for j in verdicts.false_found],
            "not_run": verdicts.not_run,
        }
    if sample:
        result["sample"] = sample
    return result


def parse_options(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--corpus", type=Path, default=ANT_SAMPLE, help="the ANT sample (JSONL)")
    parser.add_argument(
        "--query",
        action="append",
        default=[],
        help="run this query instead of the built-in list (repeatable)",
    )
    parser.add_argument("--against", metavar="REV", help="also run the engine of git revision REV")
    parser.add_argument("--sample", type=int, default=0, metavar="N", help="N hits per query")
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument(
        "--sample-gained", action="store_true", help="sample only hits gained against --against"
    )
    parser.add_argument("--unjudged", action="store_true", help="sample only hits not judged")
    parser.add_argument("--judgments", type=Path, default=JUDGMENTS)
    parser.add_argument("--write-sample", type=Path, metavar="FILE")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    options = parser.parse_args(argv)
    if options.sample_gained and not options.against:
        parser.error("--sample-gained needs --against REV")
    if options.write_sample and options.sample <= 0:
        parser.error("--write-sample needs --sample N")
    if options.write_sample and options.write_sample.resolve() == options.judgments.resolve():
        parser.error("--write-sample would overwrite the judgments; write elsewhere and append")
    return options


def main(argv: Sequence[str] | None = None) -> None:
    options = parse_options(argv)
    if not options.corpus.exists():
        print(
            f"real_text.py: no ANT sample at {options.corpus} (it is read in place from "
            "../shared/fixtures/real beside the project; pass --corpus PATH)",
            file=sys.stderr,
        )
        raise SystemExit(2)
    queries = list(dict.fromkeys(options.query or QUERIES))
    articles = read_articles(options.corpus)
    found, refused = find_hits("monitor", queries, articles)
    figures = [figures_of(q, found[q], refused.get(q)) for q in queries]
    changes: dict[str, Change] = {}
    before: dict[str, list[Found]] = {}
    if options.against:
        with engine(options.against) as package:
            before, _ = find_hits(package, queries, articles)
        changes = {q: compare(q, before[q], found[q]) for q in queries}
    judgments = read_judgments(options.judgments)
    verdicts = judge(found, judgments) if judgments else None
    verdicts_before = judge(before, judgments) if judgments and before else None
    judged = {j.key for j in judgments if j.correct is not None}
    picked: list[Found] = []
    for query in queries:
        pool = changes[query].gained if options.sample_gained else found[query]
        if options.unjudged:
            pool = [hit for hit in pool if hit.judged_as not in judged]
        picked += draw(pool, options.sample, options.seed)
    by_docno = {article.docno: article for article in articles}
    sample = sample_rows(picked, by_docno)
    if options.write_sample:
        write_sample(options.write_sample, picked)
    cpu = time.process_time()
    if options.json:
        result = report_json(figures, changes, sample, verdicts)
        result = {
            "corpus": options.corpus.name,
            "articles": len(articles),
            "against": options.against,
            "seed": options.seed,
            **result,
            "cpu_seconds": round(cpu, 2),
        }
        print(json.dumps(result, ensure_ascii=False, indent=1))
        return
    print(f"{len(articles)} articles of {options.corpus.name}, {len(queries)} queries")
    print(f"engine: working tree{f', against {options.against}' if options.against else ''}")
    print_report(figures, changes, sample, verdicts, verdicts_before)
    if options.write_sample:
        print(f"\n{len(picked)} hits to judge written to {options.write_sample}")
    print(f"\nCPU: {cpu:.1f} s")


if __name__ == "__main__":
    main()
