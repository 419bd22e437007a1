"""Turn one benchmark run into <stem>.json, a Markdown summary <stem>.md and a chart <stem>.png
(throughput per scenario against the ceiling; skipped with a note when matplotlib is absent),
and judge the issue's targets."""

from __future__ import annotations

import json
from pathlib import Path

# Scenario key -> minimum throughput as a fraction of the ceiling (issue 9).
RATIO_TARGETS = {
    "product_list_cached": 0.85,
    "product_list_uncached": 0.5,
    "product_detail": 0.6,
    "featured": 0.6,
    "categories": 0.6,
    "order_history": 0.5,
    "admin_order_detail": 0.5,
    "add_to_cart_contention": 0.3,
}
# SQL: every list at most 4 statements whatever the page size; cart read at most 4.
SQL_LIMITS = {
    "product_list_uncached": 4, "product_list_deep": 4, "product_list_per_page_1": 4,
    "product_list_per_page_50": 4, "order_history": 4, "order_history_per_page_1": 4,
    "order_history_per_page_50": 4, "admin_orders": 4, "admin_orders_per_page_50": 4,
    "admin_orders_after_order_write": 4,
    "cart_read": 4, "cart_read_1_line": 4,
}
SAME_COUNT = [("product_list_per_page_1", "product_list_per_page_50"),
              ("order_history_per_page_1", "order_history_per_page_50"),
              ("admin_orders", "admin_orders_per_page_50"),
              ("cart_read_1_line", "cart_read")]
RSS_LIMIT_MB = 150
DASHBOARD_FACTOR = 1.5


def _ceiling(results: dict, tool: str) -> float | None:
    measured = results.get("ceiling", {}).get(tool)
    return measured["rps"] if measured else None


def alone_bound(ratio: float, cpu_busy: float | None) -> float:
    """The most an endpoint can reach of the ceiling, given PostgreSQL alone's ratio `ratio`
    (a) with `cpu_busy` of the machine's CPU busy meanwhile. The web server and PostgreSQL
    share the CPUs: a request costs at least a ceiling request plus PostgreSQL's CPU for it,
    which is a / cpu_busy in ceiling requests, so the ratio is at most b / (b + 1) with
    b = a / cpu_busy (a / (a + 1) when PostgreSQL alone kept the CPUs busy). And never more
    than a itself: when the CPUs were not all busy, something else (a row lock that every
    request queues for) set PostgreSQL alone's rate, and it sets the endpoint's too."""
    share = ratio / cpu_busy if cpu_busy else ratio
    return min(ratio, share / (share + 1))


def enrich(results: dict) -> None:
    """Add each scenario's ratio to the ceiling of the same load tool, and SQL counts."""
    sql = results.get("sql", {})
    every = list(results.get("scenarios", []))
    every += (results.get("large") or {}).get("scenarios", [])
    for scenario in every:
        # A ceiling measured beside the scenario's own runs where there is one (run.measure).
        ceiling = scenario.get("paired_ceiling_rps") or _ceiling(results, scenario["tool"])
        rps = scenario.get("rps")
        scenario["ceiling_rps"] = ceiling
        if scenario.get("paired_ratio") is not None:
            scenario["ratio"] = scenario["paired_ratio"]
        else:
            scenario["ratio"] = round(rps / ceiling, 3) if rps and ceiling else None
        alone = scenario.get("database_alone")
        if alone and ceiling:
            alone["ratio"] = round(alone["rps"] / ceiling, 3)
            alone["bound"] = round(alone_bound(alone["ratio"], alone.get("cpu_busy")), 3)
        floor = scenario.get("stack_floor")
        if floor:
            floor_ceiling = floor.get("paired_ceiling_rps") or ceiling
            floor["ratio"] = floor.get("paired_ratio")
            if floor["ratio"] is None and floor.get("rps") and floor_ceiling:
                floor["ratio"] = round(floor["rps"] / floor_ceiling, 3)
        base_key = scenario["key"].removesuffix("_large")
        if base_key in sql:
            scenario["sql_statements"] = sql[base_key]["statements"]


def judge(results: dict) -> list[dict]:
    """Each target of the issue: met or not, with the figures."""
    verdicts = []
    by_key = {s["key"]: s for s in results.get("scenarios", [])}
    large = {s["key"]: s for s in (results.get("large") or {}).get("scenarios", [])}
    for key, minimum in RATIO_TARGETS.items():
        scenario = by_key.get(key)
        if scenario is None or scenario.get("ratio") is None:
            continue
        verdict = {"target": f"{scenario['title']}: throughput >= {minimum} x ceiling",
                   "value": scenario["ratio"], "met": scenario["ratio"] >= minimum}
        alone = scenario.get("database_alone")
        if alone and alone.get("ratio") is not None:
            # PostgreSQL alone, serving only this request's statements, bounds the endpoint.
            verdict["database_alone"] = alone["ratio"]
            verdict["bound"] = alone["bound"]
            verdict["reachable"] = alone["bound"] >= minimum
        floor = scenario.get("stack_floor")
        if floor and floor.get("ratio") is not None:
            # What the prescribed stack reaches doing only what it must for these requests.
            verdict["stack_floor"] = floor["ratio"]
            verdict["stack_reachable"] = floor["ratio"] >= minimum
        verdicts.append(verdict)
    sql = results.get("sql", {})
    for key, limit in SQL_LIMITS.items():
        if key in sql:
            value = sql[key]["statements"]
            verdicts.append({"target": f"SQL statements of {key} <= {limit}", "value": value,
                             "met": value <= limit and sql[key]["status"] < 400})
    for small, big in SAME_COUNT:
        if small in sql and big in sql:
            verdicts.append({"target": f"same statements for {small} and {big}",
                             "value": f"{sql[small]['statements']} / {sql[big]['statements']}",
                             "met": sql[small]["statements"] == sql[big]["statements"]})
    contention = by_key.get("add_to_cart_contention", {}).get("stock_check")
    if contention:
        verdicts.append({"target": "contention run: zero oversold units, books agree",
                         "value": contention["oversold_units"],
                         "met": contention["oversold_units"] == 0 and contention["books_agree"]})
    oversell = results.get("oversell")
    if oversell:
        verdicts.append({"target": f"oversell burst: {oversell['requests']} guests for "
                                   f"{oversell['stock']} units, none oversold",
                         "value": f"{oversell['accepted']} accepted, "
                                  f"{oversell['oversold_units']} oversold",
                         "met": oversell["oversold_units"] == 0 and oversell["books_agree"]
                         and oversell["accepted"] <= oversell["stock"]})
    standard, big = by_key.get("dashboard"), large.get("dashboard_large")
    if standard and big and standard.get("p50_ms") and big.get("p50_ms"):
        factor = round(big["p50_ms"] / standard["p50_ms"], 2)
        verdicts.append({"target": f"dashboard p50 under load, large <= {DASHBOARD_FACTOR} x standard",
                         "value": factor, "met": factor <= DASHBOARD_FACTOR})
    cold = results.get("dashboard_cold", {})
    if "standard" in cold and "large" in cold:
        factor = round(cold["large"]["median_ms"] / cold["standard"]["median_ms"], 2)
        verdicts.append({"target": f"dashboard right after an order write, large <= "
                                   f"{DASHBOARD_FACTOR} x standard",
                         "value": factor, "met": factor <= DASHBOARD_FACTOR})
    peak = _max_rss(results)
    if peak is not None:
        verdicts.append({"target": f"worker RSS after the runs <= {RSS_LIMIT_MB} MB",
                         "value": peak, "met": peak <= RSS_LIMIT_MB})
    return verdicts


def _max_rss(results: dict) -> float | None:
    values = []
    for scenario in results.get("scenarios", []) + (results.get("large") or {}).get("scenarios", []):
        if scenario.get("server") == "ceiling":
            continue
        values += [worker.get("vmrss", 0) for worker in scenario.get("memory_after", [])]
    return max(values) if values else None


def _fmt(value, digits=1) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    return f"{value:,}" if isinstance(value, int) else str(value)


def _verdict(verdict: dict) -> str:
    if verdict["met"]:
        return "yes"
    reasons = []
    if verdict.get("reachable") is False:
        reasons.append(f"at most {verdict['bound']} with PostgreSQL on the same CPUs")
    if verdict.get("stack_reachable") is False:
        reasons.append(f"the stack floor reaches {verdict['stack_floor']}")
    if reasons:
        return "**no**; out of reach here: " + "; ".join(reasons)
    return "**no**"


def markdown(results: dict, verdicts: list[dict], chart: str | None) -> str:
    machine = results["machine"]
    settings = results["settings"]
    lines = [
        f"# Benchmark results, {results['date']} ({results['mode']} run)",
        "",
        f"Machine: {machine['cpus']} CPUs ({machine['cpu_model']}), Python {machine['python']}. "
        "The servers, PostgreSQL, Redis and the load generator share these CPUs, so absolute "
        "numbers are low and only the ratios to the ceiling (measured in the same run with "
        "the same load tool) are meaningful.",
        "",
        f"Server: `{results.get('command', '')}` with FLASK_ENV=production, "
        f"{settings['gunicorn_workers']} workers x {settings['gunicorn_threads']} threads "
        "(gthread), PostgreSQL and Redis on 127.0.0.1, metrics off, rate limits off. "
        f"Load: {settings['connections']} keep-alive connections, {settings['warmup_s']} s "
        f"warm-up, then {settings['repeats']} x {settings['duration_s']} s; medians.",
        "",
    ]
    ceilings = results.get("ceiling", {})
    lines += ["## Ceiling (minimal Flask app, same gunicorn command)", "",
              "| load tool | rps at start | rps at end | p50 ms | p99 ms |", "|---|---|---|---|---|"]
    for tool in ("wrk", "py"):
        if tool in ceilings:
            start, end = ceilings[tool], ceilings.get(f"{tool}_end", {})
            lines.append(f"| {tool} | {_fmt(start['rps'])} | {_fmt(end.get('rps'))} | "
                         f"{_fmt(start['p50_ms'], 2)} | {_fmt(start['p99_ms'], 2)} |")
    lines += ["", "## Scenarios", "",
              "| scenario | tool | rps | ceiling rps beside it | ratio to ceiling | p50 ms | p99 ms | errors | SQL / request | worker RSS MB (peak) |",
              "|---|---|---|---|---|---|---|---|---|---|"]
    rows = list(results.get("scenarios", [])) + (results.get("large") or {}).get("scenarios", [])
    for scenario in rows:
        memory = scenario.get("memory_after", [])
        rss = ", ".join(f"{w.get('vmrss', 0):.0f} ({w.get('vmhwm', 0):.0f})" for w in memory)
        lines.append(
            f"| {scenario['title']} | {scenario['tool']} | {_fmt(scenario['rps'])} | "
            f"{_fmt(scenario.get('ceiling_rps'))} | {_fmt(scenario.get('ratio'), 2)} | {_fmt(scenario['p50_ms'], 2)} | "
            f"{_fmt(scenario['p99_ms'], 2)} | {scenario['errors']} | "
            f"{_fmt(scenario.get('sql_statements'))} | {rss} |")
    lines += ["", "Each timed run of a scenario follows a run of the ceiling app with the same "
              "load tool and duration; the ratio is the median over the repeats of scenario rps "
              "over that ceiling's rps (the large data set's rows use the ceiling of the start). "
              "Errors count non-2xx answers and socket errors. The login scenario is "
              "reported with the others but has no target: scrypt with N=2^17 dominates it by "
              "design. `py` rows use benchmarks/loadgen.py (a fresh cookie or signed body per "
              "request) and are compared with the `py` ceiling.", ""]
    alone = [scenario for scenario in rows if scenario.get("database_alone")]
    if alone:
        lines += ["## PostgreSQL alone", "",
                  "The statements one request of the scenario runs (captured from the shop, "
                  "values included) replayed by pgbench from as many connections as the shop has "
                  "threads: no Python and no HTTP. Reads run in a transaction per request that "
                  "is rolled back; the add to cart runs as the shop runs it, one statement that "
                  "commits on its own, with fresh ids for the login session. Since the web "
                  "server and PostgreSQL share the CPUs, a request of the endpoint costs at least "
                  "a ceiling request plus PostgreSQL's CPU for it, so its ratio to the ceiling is "
                  "at most b / (b + 1), b = a / (share of the CPU busy during the replay), a "
                  "being PostgreSQL alone's ratio, even if its Python did no more than the "
                  "hello-world app (pgbench's own CPU is counted, so the bound is a little low). "
                  "It is never more than a: when the CPUs were not all busy, a row lock that "
                  "every request queues for set PostgreSQL's rate, and sets the endpoint's too.",
                  "",
                  "| scenario | statements | rps | ratio to ceiling (a) | CPU busy | bound | shop's ratio |",
                  "|---|---|---|---|---|---|---|"]
        for scenario in alone:
            figures = scenario["database_alone"]
            lines.append(f"| {scenario['title']} | {figures['statements']} | "
                         f"{_fmt(figures['rps'])} | {_fmt(figures.get('ratio'), 2)} | "
                         f"{_fmt(figures.get('cpu_busy'), 2)} | "
                         f"{_fmt(figures.get('bound'), 2)} | {_fmt(scenario.get('ratio'), 2)} |")
        lines.append("")
    floors = [scenario for scenario in rows if scenario.get("stack_floor")]
    if floors:
        lines += ["## Stack floor", "",
                  "The same requests answered by `benchmarks/floor_app.py` under the same "
                  "gunicorn command: only what the stack the design prescribes must do for them "
                  "(flask-smorest and the shop's marshmallow schemas, the shop's own SQL "
                  "statement through a SQLAlchemy engine, flask-jwt-extended's two tokens and "
                  "cookies, one Redis PUBLISH), without the shop's frontend-secret check, rate "
                  "limit, ORM session, access log, error handling or the wait that makes the "
                  "announcement reach every process first. Paired with the ceiling like every "
                  "scenario. What it reaches bounds the shop's endpoint with this stack here.",
                  "",
                  "| scenario | floor rps | floor's ratio | shop's ratio | shop / floor |",
                  "|---|---|---|---|---|"]
        for scenario in floors:
            floor = scenario["stack_floor"]
            share = (round(scenario["ratio"] / floor["ratio"], 2)
                     if scenario.get("ratio") and floor.get("ratio") else None)
            lines.append(f"| {scenario['title']} | {_fmt(floor['rps'])} | "
                         f"{_fmt(floor.get('ratio'), 2)} | {_fmt(scenario.get('ratio'), 2)} | "
                         f"{_fmt(share, 2)} |")
        lines.append("")
    sql = results.get("sql", {})
    if sql:
        lines += ["## SQL statements per request", "",
                  "Counted with a `before_cursor_execute` listener around one test-client request "
                  "on the same data (cached reads counted on the second request).", "",
                  "| request | statements | status |", "|---|---|---|"]
        lines += [f"| {key} | {value['statements']} | {value['status']} |"
                  for key, value in sql.items()]
        lines.append("")
    cold = results.get("dashboard_cold", {})
    if cold:
        lines += ["## Admin dashboard right after an order write", "",
                  "An order's status is changed through the API, then one dashboard request is "
                  "timed; median of several.", "",
                  "| data set | median ms | runs ms |", "|---|---|---|"]
        lines += [f"| {scale} | {_fmt(value['median_ms'], 2)} | {value['runs_ms']} |"
                  for scale, value in cold.items()]
        lines.append("")
    oversell = results.get("oversell")
    if oversell:
        lines += ["## Oversell check", "",
                  f"{oversell['requests']} new guests each asked for 1 of {oversell['stock']} "
                  f"units at once: {oversell['accepted']} accepted, {oversell['refused']} refused; "
                  f"units in carts {oversell['units_in_carts']}, reserved_stock "
                  f"{oversell['reserved_stock']}, oversold {oversell['oversold_units']}.", ""]
    lines += ["## Data sets", ""]
    for scale, info in results.get("data", {}).items():
        counts = ", ".join(f"{k} {v:,}" for k, v in info["counts"].items())
        lines.append(f"- {scale}: {counts}; generated in {info['timings']['total_s']} s "
                     f"({info['timings']})")
    lines += ["", "## Targets (issue 9)", "", "| target | value | met |", "|---|---|---|"]
    lines += [f"| {v['target']} | {v['value']} | {_verdict(v)} |" for v in verdicts]
    lines.append("")
    if chart:
        lines += [f"![throughput per scenario against the ceiling]({chart})", ""]
    else:
        lines += ["(No chart: matplotlib is not installed in this environment.)", ""]
    lines.append(f"Whole run: {results.get('elapsed_s')} s.")
    return "\n".join(lines) + "\n"


def chart(results: dict, path: Path) -> bool:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    rows = [s for s in results.get("scenarios", []) + (results.get("large") or {}).get("scenarios", [])
            if s.get("rps")]
    if not rows:
        return False
    labels = [f"{s['title']} [{s['tool']}]" for s in rows]
    values = [s["rps"] for s in rows]
    figure, axis = plt.subplots(figsize=(11, 0.42 * len(rows) + 1.6))
    colours = ["#4c72b0" if s["tool"] == "wrk" else "#dd8452" for s in rows]
    axis.barh(labels, values, color=colours)
    for tool, style in (("wrk", "-"), ("py", "--")):
        ceiling = _ceiling(results, tool)
        if ceiling:
            axis.axvline(ceiling, color="black", linestyle=style, linewidth=1,
                         label=f"ceiling ({tool}): {ceiling:,.0f} rps")
    for index, scenario in enumerate(rows):
        if scenario.get("ratio") is not None:
            axis.text(scenario["rps"], index, f" {scenario['ratio']:.2f}", va="center", fontsize=8)
    axis.invert_yaxis()
    axis.set_xlabel("requests per second (median); label = ratio to the ceiling of the same tool")
    axis.set_title(f"Shop throughput per scenario, {results['date']} ({results['mode']})")
    axis.legend(loc="lower right", fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return True


def write(results: dict, folder: Path, stem: str) -> list[Path]:
    enrich(results)
    verdicts = judge(results)
    results["targets"] = verdicts
    png = folder / f"{stem}.png"
    has_chart = chart(results, png)
    json_path = folder / f"{stem}.json"
    json_path.write_text(json.dumps(results, indent=2, default=str) + "\n")
    md_path = folder / f"{stem}.md"
    md_path.write_text(markdown(results, verdicts, png.name if has_chart else None))
    return [json_path, md_path] + ([png] if has_chart else [])
