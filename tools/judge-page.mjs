// Open a page from a file in Debian's Chromium (headless, driven by playwright-core), take a full-page
// screenshot and run axe-core's WCAG 2.x A/AA rules and best practices on it. Prints one JSON object:
// {"violations": [...], "passes": N, "width": W, "height": H, "title": "..."}. Used by tests/browser.py.
//   node tools/judge-page.mjs PAGE.html SHOT.png [CHROMIUM]
import { createRequire } from "node:module";
import { pathToFileURL } from "node:url";
import { chromium } from "playwright-core";

const require = createRequire(import.meta.url);
const [page, shot, executable = "/usr/bin/chromium"] = process.argv.slice(2);
if (!page || !shot) {
  console.error("usage: node tools/judge-page.mjs PAGE.html SHOT.png [CHROMIUM]");
  process.exit(2);
}
// --no-sandbox: CI runs as root, where Chromium's sandbox refuses to start
const browser = await chromium.launch({ executablePath: executable, args: ["--no-sandbox"] });
try {
  const tab = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  await tab.goto(pathToFileURL(page).href);
  await tab.screenshot({ path: shot, fullPage: true });
  const size = await tab.evaluate(() => [document.documentElement.scrollWidth, document.documentElement.scrollHeight]);
  const title = await tab.title();
  await tab.addScriptTag({ path: require.resolve("axe-core/axe.min.js") });
  const result = await tab.evaluate(() =>
    // eslint-disable-next-line no-undef
    axe.run(document, { runOnly: { type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"] } }),
  );
  const violations = result.violations.map((v) => ({
    id: v.id,
    impact: v.impact,
    help: v.help,
    nodes: v.nodes.slice(0, 5).map((n) => n.target.join(" ")),
  }));
  console.log(JSON.stringify({ violations, passes: result.passes.length, width: size[0], height: size[1], title }));
} finally {
  await browser.close();
}
