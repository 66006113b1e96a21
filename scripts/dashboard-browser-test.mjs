// The dashboard in headless Chromium (Debian's), driven by playwright-core: sign in with an API
// key, check that the pages render and that their numbers match the API, and that a filter in the
// cost explorer changes the chart. Prints one JSON line of what it saw; exits non-zero on failure.
// Usage: node scripts/dashboard-browser-test.mjs BASE_URL API_KEY [SCREENSHOT_DIR]
// Installed by scripts/setup-test-tools.sh (playwright-core in .tools/node, chromium from Debian).
import { createRequire } from "node:module";
import path from "node:path";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(path.join(here, "../.tools/node/node_modules/"));
const { chromium } = require("playwright-core");

const [base, key, shots] = process.argv.slice(2);
if (!base || !key) {
  console.error("usage: dashboard-browser-test.mjs BASE_URL API_KEY [SCREENSHOT_DIR]");
  process.exit(2);
}
const api = async (p) => {
  const r = await fetch(base + p, { headers: { Authorization: `Bearer ${key}` } });
  if (r.status !== 200) throw new Error(`${p}: HTTP ${r.status}`);
  return r.json();
};
const check = (ok, what) => {
  if (!ok) throw new Error(what);
};
const sum = (rows) => rows.reduce((a, r) => a + Number(r.amount), 0);
const near = (a, b) => Math.abs(a - b) <= 0.005 + Math.abs(b) * 1e-12;

const browser = await chromium.launch({
  executablePath: "/usr/bin/chromium",
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
const seen = {};
try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  const failed = [];
  page.on("response", (r) => { if (r.status() >= 500) failed.push(`${r.status()} ${r.url()}`); });
  page.on("console", (m) => { if (m.type() === "error") failed.push(`console: ${m.text()}`); });

  // Unsigned: to the sign-in page. A wrong key is refused.
  await page.goto(base + "/");
  check(page.url().endsWith("/login"), `not sent to sign in: ${page.url()}`);
  await page.fill("#key", "vdx.nobody.0000000000000000." + "0".repeat(64));
  await page.click("button[type=submit]");
  check((await page.textContent(".error")).includes("unknown or revoked"), "a wrong key was not refused");
  failed.length = 0; // the refusal above is a 401, as it should be
  await page.fill("#key", key);
  await page.click("button[type=submit]");
  await page.waitForSelector("#mtd");
  const cookies = await page.context().cookies();
  const session = cookies.find((c) => c.name === "vdx_session");
  check(session && session.httpOnly && session.sameSite === "Strict", "the session cookie is not HttpOnly/Strict");
  check(!session.value.includes(key.split(".")[3]), "the key's secret is in the cookie");

  // Overview: month to date equals the API's total for the same days.
  const mtd = await page.getAttribute("#mtd", "data-amount");
  const bars = await page.$$eval("svg.chart rect.bar", (r) => r.map((b) => [b.dataset.day, b.dataset.amount, b.classList.contains("preliminary")]));
  check(bars.length === 90, `90 daily bars expected, saw ${bars.length}`);
  const last = bars[bars.length - 1][0];
  const monthStart = last.slice(0, 8) + "01";
  const next = new Date(Date.parse(last + "T00:00:00Z") + 86400000).toISOString().slice(0, 10);
  const apiMtd = sum((await api(`/api/v1/costs?from=${monthStart}&to=${next}&filter=currency=USD`)).rows);
  check(near(Number(mtd), apiMtd), `month to date ${mtd} ≠ API ${apiMtd}`);
  const fresh = await api("/api/v1/freshness");
  const prelim = bars.filter((b) => b[2]).map((b) => b[0]);
  check(prelim.every((d) => !fresh.final_through || d > fresh.final_through), "a final day is shaded preliminary");
  check(prelim.length === bars.filter((b) => !fresh.final_through || b[0] > fresh.final_through).length, "preliminary days are not all shaded");
  const topService = await page.$$eval("#top-services td.num", (t) => t.map((c) => c.dataset.amount));
  const apiServices = (await api(`/api/v1/costs?group_by=service&from=${monthStart}&to=${next}&filter=currency=USD`)).rows
    .map((r) => Number(r.amount)).sort((a, b) => b - a);
  check(near(Number(topService[0]), apiServices[0]), `top service ${topService[0]} ≠ API ${apiServices[0]}`);
  seen.overview = { mtd, days: bars.length, preliminary: prelim.length, top_service: topService[0] };

  // The forecast band: 31 days from the day after the last final day, the API's figures, bands
  // nested around the line; the month's forecast is its final days plus its forecast days.
  const dayAfter = (d) => new Date(Date.parse(d + "T00:00:00Z") + 86400000).toISOString().slice(0, 10);
  const band = await page.$eval("svg.chart g.forecast", (g) => ({ ...g.dataset }));
  const points = await page.$$eval("svg.chart g.forecast circle.point", (c) => c.map((p) => ({ ...p.dataset })));
  check(points.length === 31 && Number(band.days) === 31, `31 forecast days expected, saw ${points.length}`);
  check(band.from === dayAfter(fresh.final_through), `the forecast starts ${band.from}, final through ${fresh.final_through}`);
  const apiForecast = (await api("/api/v1/forecast?horizon=31")).currencies.find((c) => c.currency === "USD").total;
  points.forEach((p, i) => {
    const q = apiForecast.points[i];
    check(p.day === q.date && Math.abs(Number(p.yhat) - q.yhat) <= 0.006, `forecast ${p.day} ${p.yhat} ≠ API ${q.date} ${q.yhat}`);
    check(Math.abs(Number(p.lo80) - q.intervals[0].lo) <= 0.006 && Math.abs(Number(p.hi95) - q.intervals[1].hi) <= 0.006, `bands of ${p.day} ≠ API`);
    const v = ["lo95", "lo80", "yhat", "hi80", "hi95"].map((k) => Number(p[k]));
    check(v.every((x, k) => k === 0 || v[k - 1] <= x + 1e-9), `bands of ${p.day} are not nested: ${v}`);
  });
  const monthForecast = Number(await page.getAttribute("#month-forecast", "data-amount"));
  const finalInMonth = band.from > monthStart
    ? sum((await api(`/api/v1/costs?from=${monthStart}&to=${band.from}&filter=currency=USD`)).rows) : 0;
  const aheadInMonth = points.filter((p) => p.day.slice(0, 7) === monthStart.slice(0, 7)).reduce((a, p) => a + Number(p.yhat), 0);
  check(Math.abs(monthForecast - finalInMonth - aheadInMonth) <= 0.01 * (points.length + 1),
    `the month's forecast ${monthForecast} ≠ final ${finalInMonth} + forecast ${aheadInMonth}`);
  check((await page.textContent("#forecast-note")).includes("Backtest: MAPE"), "no backtest under the chart");
  seen.forecast = { from: band.from, days: points.length, month: monthForecast, model: await page.getAttribute("#forecast-note", "data-model") };
  if (shots) await page.screenshot({ path: path.join(shots, "overview.png"), fullPage: true });

  // Anomalies: per service since June, the API's anomalies with root causes; marking one as
  // expected takes it off the page and the API, and taking the mark back returns it.
  await page.click("nav >> text=Anomalies");
  await page.waitForSelector("form.explore");
  await page.selectOption("select[name=by]", "service");
  await page.fill("input[name=from]", "2026-06-01");
  await page.click("form.explore button[type=submit]");
  await page.waitForURL(/by=service/);
  const rowsOf = () => page.$$eval("#anomalies tbody tr", (r) => r.map((t) => ({ ...t.dataset, causes: t.querySelectorAll("ul.causes li").length })));
  const found = await rowsOf();
  const apiQuery = "/api/v1/anomalies?by=service&from=2026-06-01";
  const apiFound = (await api(apiQuery)).anomalies;
  check(found.length > 0 && found.length === apiFound.length, `${found.length} anomalies on the page, ${apiFound.length} from the API`);
  found.forEach((f, i) => {
    const a = apiFound[i];
    check(f.series === a.series && f.start === a.start && f.end === a.end && Math.abs(Number(f.impact) - a.impact) <= 0.006,
      `anomaly ${i}: ${JSON.stringify(f)} ≠ API ${a.series} ${a.start} ${a.end} ${a.impact}`);
  });
  check(found[0].causes > 0, "the largest anomaly names no root cause");
  if (shots) await page.screenshot({ path: path.join(shots, "anomalies.png"), fullPage: true });
  const target = found[0];
  const marksBefore = await page.$$eval("#marks tbody tr", (r) => r.length);
  await page.fill("#anomalies tbody tr >> nth=0 >> input[name=note]", "browser test: planned load test");
  await page.click("#anomalies tbody tr >> nth=0 >> button");
  await page.waitForURL(/by=service/);
  const afterMark = await rowsOf();
  check(!afterMark.some((f) => f.series === target.series && f.start === target.start), "the marked anomaly is still listed");
  const marked = await page.$$eval("#marks tbody tr", (r) => r.map((t) => ({ ...t.dataset })));
  check(marked.length === marksBefore + 1 && marked.some((m) => m.series === target.series && m.from === target.start && m.to === target.end), "the mark is not listed");
  const apiMarks = (await api("/api/v1/anomalies/marks")).marks;
  check(apiMarks.some((m) => m.series === target.series && m.note === "browser test: planned load test"), "the API does not have the mark");
  check(!(await api(apiQuery)).anomalies.some((a) => a.series === target.series && a.start === target.start), "the API still reports the marked anomaly");
  await page.click(`#marks tbody tr[data-series="${target.series}"][data-from="${target.start}"] button`);
  await page.waitForURL(/by=service/);
  check((await rowsOf()).length === found.length, "taking the mark back did not return the anomaly");
  seen.anomalies = { found: found.length, first: `${target.series} ${target.start}..${target.end}`, causes: target.causes };

  // Cost explorer: the table matches the API; a filter changes the chart to the filtered total.
  await page.click("nav >> text=Cost explorer");
  await page.waitForSelector("#groups");
  await page.selectOption("select[name=group_by]", "provider");
  await page.click("form.explore button[type=submit]");
  await page.waitForURL(/group_by=provider/);
  const from = await page.inputValue("input[name=from]");
  const to = await page.inputValue("input[name=to]");
  const toExcl = new Date(Date.parse(to + "T00:00:00Z") + 86400000).toISOString().slice(0, 10);
  const before = Number(await page.getAttribute("svg.chart", "data-total"));
  const apiAll = sum((await api(`/api/v1/costs?from=${from}&to=${toExcl}&filter=currency=USD`)).rows);
  check(near(before, apiAll), `chart total ${before} ≠ API ${apiAll}`);
  const cells = await page.$$eval("#groups tbody tr", (rows) => rows.map((r) => [r.cells[0].textContent, r.cells[2].dataset.amount]));
  const apiProviders = (await api(`/api/v1/costs?group_by=provider&from=${from}&to=${toExcl}`)).rows;
  for (const [name, amount] of cells) {
    const match = apiProviders.find((r) => r.keys.provider === name);
    check(match && near(Number(amount), Number(match.amount)), `${name}: ${amount} ≠ API ${match && match.amount}`);
  }
  await page.fill("input[name=filter] >> nth=0", "provider=AWS");
  await page.click("form.explore button[type=submit]");
  await page.waitForURL(/filter=provider%3DAWS/);
  const after = Number(await page.getAttribute("svg.chart", "data-total"));
  const apiAws = sum((await api(`/api/v1/costs?from=${from}&to=${toExcl}&filter=provider=AWS&filter=currency=USD`)).rows);
  check(after !== before && near(after, apiAws), `the filter did not change the chart to AWS's total: ${before} → ${after}, API ${apiAws}`);
  const rows = await page.$$eval("#groups tbody tr", (r) => r.length);
  check(rows === 1, `a provider=AWS filter left ${rows} groups`);
  seen.explorer = { from, to, total: before, aws: after };
  if (shots) await page.screenshot({ path: path.join(shots, "explorer.png"), fullPage: true });

  // CSV download of the same view.
  const [download] = await Promise.all([page.waitForEvent("download"), page.click("text=Download CSV")]);
  const csv = await (await import("node:fs/promises")).readFile(await download.path(), "utf8");
  check(csv.startsWith("provider,currency,billed_cost,records\nAWS,USD,"), `CSV: ${csv.slice(0, 80)}`);

  // Allocation: last month's teams add up to the bill, match the API, and a team's figure
  // opens on its contributions.
  await page.click("nav >> text=Allocation");
  await page.waitForSelector("#teams");
  const teams = await page.$$eval("#teams tbody tr", (r) => r.map((t) => [t.dataset.target, Number(t.dataset.total)]));
  const pageTotal = Number(await page.getAttribute("#total", "data-amount"));
  check(near(teams.reduce((a, t) => a + t[1], 0), pageTotal), "the teams do not add up to the month's spend");
  const apiAlloc = await api("/api/v1/allocation");
  const apiTeams = apiAlloc.targets.filter((t) => t.currency === "USD");
  check(apiTeams.length === teams.length, `${teams.length} teams on the page, ${apiTeams.length} from the API`);
  for (const [name, total] of teams) {
    const t = apiTeams.find((x) => x.target === name);
    check(t && near(Number(t.total_effective), total), `${name}: ${total} on the page, ${t && t.total_effective} from the API`);
  }
  check(teams.some((t) => t[0] === "Unallocated"), "no Unallocated row");
  const segments = await page.$$eval("svg.chart.stacked rect.seg", (r) => r.length);
  check(segments >= 6, `the stacked chart has ${segments} segments`);
  const untagged = await page.$$eval("#untagged-services tbody tr", (r) => r.length);
  check(untagged > 0, "the unallocated report lists no services");
  await page.click("#teams tbody tr >> nth=0 >> a");
  await page.waitForSelector("#contributions");
  const contributions = await page.$$eval("#contributions tbody tr", (r) => r.map((c) => Number(c.dataset.effective)));
  check(near(contributions.reduce((a, c) => a + c, 0), teams[0][1]), "the contributions do not add up to the team's figure");
  seen.allocation = { teams: teams.length, contributions: contributions.length, segments };
  if (shots) await page.screenshot({ path: path.join(shots, "allocation.png"), fullPage: true });

  // Runs and a run's audit.
  await page.click("nav >> text=Ingestion runs");
  await page.waitForSelector("#runs");
  const runs = await page.$$eval("#runs tbody tr", (r) => r.length);
  const apiRuns = (await api("/api/v1/runs?limit=50")).runs.length;
  check(runs === apiRuns, `${runs} runs on the page, ${apiRuns} from the API`);
  await page.click("#runs tbody tr >> nth=0 >> a");
  await page.waitForSelector("#largest");
  seen.runs = { runs };
  if (shots) await page.screenshot({ path: path.join(shots, "run.png"), fullPage: true });

  // Narrow screens: the page still fits.
  await page.setViewportSize({ width: 390, height: 800 });
  await page.goto(base + "/");
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  check(overflow <= 1, `the overview overflows a phone screen by ${overflow}px`);

  // Signing out ends the session.
  await page.click("form.signout button");
  await page.waitForURL(/\/login$/);
  await page.goto(base + "/runs");
  check(page.url().endsWith("/login"), "still signed in after signing out");
  check(failed.length === 0, `errors: ${failed.join("; ")}`);
  console.log(JSON.stringify({ ok: true, ...seen }));
} catch (e) {
  console.log(JSON.stringify({ ok: false, error: String(e && e.message || e), ...seen }));
  process.exitCode = 1;
} finally {
  await browser.close();
}
