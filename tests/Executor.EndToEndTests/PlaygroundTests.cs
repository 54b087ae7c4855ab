using System.Text.Json;

namespace Executor.EndToEndTests;

/// <summary>
/// The playground at / in headless Chromium (Debian's, driven by puppeteer-core from npm), with every request that
/// leaves loopback aborted: a script typed and run with Ctrl+Enter shows its first line before it ends, input() is
/// answered from the console, a plot appears, an endless loop is stopped, and nothing is logged as an error.
/// </summary>
[Collection(StackCollection.Name)]
public sealed class PlaygroundTests(StackFixture stack)
{
    /// <summary>Debian's Chromium, headless, with nothing in the background that would reach past loopback.</summary>
    internal const string Launch = """
        import puppeteer from "puppeteer-core";
        const browser = await puppeteer.launch({
          executablePath: "/usr/bin/chromium",
          headless: true,
          args: ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--disable-dev-shm-usage", "--disable-quic"],
          defaultViewport: { width: 1280, height: 860 },
        });
        /** A page that records its console errors in report.errors, and aborts every request past loopback into report.blocked. */
        const watchedPage = async (report) => {
          const page = await browser.newPage();
          page.on("console", (m) => { if (m.type() === "error") report.errors.push(m.text()); });
          page.on("pageerror", (e) => report.errors.push(e.message));
          await page.setRequestInterception(true);
          page.on("request", (request) => {
            const url = new URL(request.url());
            if (["blob:", "data:", "about:"].includes(url.protocol) || ["127.0.0.1", "localhost", "[::1]"].includes(url.hostname)) request.continue();
            else { report.blocked.push(request.url()); request.abort(); }
          });
          return page;
        };

        """;

    /// <summary>TestResults/, where the browser tests leave their screenshots.</summary>
    internal static string ScreenshotDirectory() => Directory.CreateDirectory(Path.Combine(Repository.Root, "TestResults")).FullName;

    private const string Script = Launch + """
        const [base, out] = process.argv.slice(2);
        const report = { errors: [], blocked: [] };
        const consoleText = () => page.evaluate(() => document.getElementById("console").innerText);
        const idle = () => page.waitForFunction(() => !document.getElementById("run").disabled, { timeout: 60000 });
        const status = () => page.evaluate(() => document.getElementById("status").innerText);
        let page;
        try {
          page = await watchedPage(report);
          await page.goto(base, { waitUntil: "networkidle0" });
          await page.waitForFunction(() => document.querySelectorAll("#runtime option").length >= 2, { timeout: 30000 });

          // Type a script and run it with Ctrl+Enter: its first line shows while it still runs.
          await page.click(".cm-content");
          await page.keyboard.down("Control"); await page.keyboard.press("a"); await page.keyboard.up("Control");
          await page.keyboard.press("Backspace");
          await page.keyboard.type('import time\nprint("first line", flush=True)\ntime.sleep(2)\nprint("last line")');
          await page.keyboard.down("Control"); await page.keyboard.press("Enter"); await page.keyboard.up("Control");
          await page.waitForFunction(() => document.getElementById("console").innerText.includes("first line"), { timeout: 30000 });
          report.early = { console: await consoleText(), running: await page.evaluate(() => !document.getElementById("stop").disabled) };
          await idle();
          report.typed = { console: await consoleText(), status: await status() };

          // input(): answered from the console.
          await page.select("#example", "input");
          await page.click("#run");
          await page.waitForFunction(() => !document.getElementById("input").disabled, { timeout: 30000 });
          await page.waitForFunction(() => document.getElementById("console").innerText.includes("What is your name?"), { timeout: 30000 });
          await page.type("#input", "Ada");
          await page.keyboard.press("Enter");
          await idle();
          report.input = { console: await consoleText(), status: await status() };

          // A plot: shown inline.
          await page.select("#example", "plot");
          await page.click("#run");
          await idle();
          await page.waitForFunction(() => [...document.querySelectorAll("#files img")].some((i) => i.complete && i.naturalWidth > 0), { timeout: 30000 });
          report.plot = await page.evaluate(() => ({ width: document.querySelector("#files img").naturalWidth, alt: document.querySelector("#files img").alt }));
          await page.screenshot({ path: `${out}/playground.png` });

          // An endless loop, stopped.
          await page.select("#example", "loop");
          await page.$eval("#timeout", (input) => { input.value = "30"; });
          await page.click("#run");
          await page.waitForFunction(() => document.getElementById("console").innerText.includes("counting forever"), { timeout: 30000 });
          await page.click("#stop");
          await idle();
          report.stopped = { status: await status() };

          // A phone-sized screen: nothing wider than the viewport.
          await page.setViewport({ width: 390, height: 844 });
          report.phone = await page.evaluate(() => document.documentElement.scrollWidth);
        } finally {
          await browser.close();
        }
        console.log(JSON.stringify(report));
        """;

    [Fact]
    public async Task A_person_types_runs_answers_input_sees_a_plot_and_stops_a_loop_in_a_headless_browser()
    {
        var screenshots = ScreenshotDirectory();

        var report = JsonDocument.Parse(await NodeClients.RunAsync("playground", Script, stack.Gateway.BaseAddress!.ToString(), screenshots)).RootElement;

        Assert.Empty(report.GetProperty("errors").EnumerateArray());
        Assert.Empty(report.GetProperty("blocked").EnumerateArray()); // everything the page needs is served by Executor
        var early = report.GetProperty("early");
        Assert.Contains("first line", early.GetProperty("console").GetString(), StringComparison.Ordinal);
        Assert.DoesNotContain("last line", early.GetProperty("console").GetString(), StringComparison.Ordinal);
        Assert.True(early.GetProperty("running").GetBoolean());
        Assert.Contains("first line\nlast line", report.GetProperty("typed").GetProperty("console").GetString(), StringComparison.Ordinal);
        Assert.Contains("completed", report.GetProperty("typed").GetProperty("status").GetString(), StringComparison.Ordinal);
        Assert.Contains("Hello, Ada!", report.GetProperty("input").GetProperty("console").GetString(), StringComparison.Ordinal);
        Assert.Equal(500, report.GetProperty("plot").GetProperty("width").GetInt32()); // figsize 5 in at 100 dpi
        Assert.Contains("cancelled", report.GetProperty("stopped").GetProperty("status").GetString(), StringComparison.Ordinal);
        Assert.True(report.GetProperty("phone").GetInt32() <= 390, $"the page is {report.GetProperty("phone")} px wide on a 390 px screen");
        Assert.True(File.Exists(Path.Combine(screenshots, "playground.png")));
    }

    /// <summary>A script that leaves an SVG and an HTML page carrying script, and a PNG, in out/.</summary>
    private const string FilesScript = """
        import os, struct, zlib
        os.makedirs("out", exist_ok=True)
        def mark(kind):
            return f"localStorage.setItem('pwned', '{kind}'); document.title = 'pwned by {kind}'"
        with open("out/evil.svg", "w") as f:
            f.write(f'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10" onload="{mark("svg-onload")}">'
                    f'<script>{mark("svg")}</script><rect width="10" height="10"/></svg>')
        with open("out/evil.html", "w") as f:
            f.write(f"<!doctype html><html><head><title>page</title></head><body><script>{mark('html')}</script></body></html>")
        def chunk(kind, data):
            return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xffffffff)
        rows = b"".join(b"\x00" + b"\xff\x00\x00" * 3 for _ in range(2))
        with open("out/dot.png", "wb") as f:
            f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 3, 2, 8, 2, 0, 0, 0))
                    + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))
        print("written")
        """;

    private const string FilesBrowserScript = Launch + """
        const [base, code] = process.argv.slice(2);
        const report = { blocked: [], fileUrls: [], opened: [] };
        const loopbackOnly = async (page) => {
          await page.setRequestInterception(true);
          page.on("request", (request) => {
            const url = new URL(request.url());
            if (url.pathname.includes("/files/")) report.fileUrls.push(request.url());
            if (["blob:", "data:"].includes(url.protocol) || ["127.0.0.1", "localhost", "[::1]"].includes(url.hostname)) request.continue();
            else { report.blocked.push(request.url()); request.abort(); }
          });
        };
        try {
          // Nothing is saved: a download is refused, which is what opening an untyped file ends in.
          await (await browser.target().createCDPSession()).send("Browser.setDownloadBehavior", { behavior: "deny" });
          const page = await browser.newPage();
          await loopbackOnly(page);
          const response = await page.goto(base, { waitUntil: "networkidle0" });
          report.csp = response.headers()["content-security-policy"] || null;
          await page.waitForFunction(() => document.querySelectorAll("#runtime option").length >= 2, { timeout: 30000 });
          await page.evaluate((source) => { editor.value = source; }, code);
          await page.click("#run");
          await page.waitForFunction(() => document.querySelectorAll("#files figure").length >= 3, { timeout: 60000 });
          await page.waitForFunction(() => [...document.querySelectorAll("#files img")].every((i) => i.complete), { timeout: 30000 });
          report.images = await page.evaluate(() => [...document.querySelectorAll("#files img")].map((i) => ({ alt: i.alt, width: i.naturalWidth })));
          report.links = await page.evaluate(() => [...document.querySelectorAll("#files a")].map((a) => ({ text: a.textContent, href: a.href })));

          // A person opens every file in a tab of its own: the playground's links, and the files' own URLs.
          for (const href of [...report.links.map((l) => l.href), ...new Set(report.fileUrls)]) {
            const tab = await browser.newPage();
            await loopbackOnly(tab);
            try { await tab.goto(href, { timeout: 15000 }); report.opened.push({ href, title: await tab.title() }); }
            catch (e) { report.opened.push({ href, error: e.message.slice(0, 100) }); }
            await new Promise((resolve) => setTimeout(resolve, 500));
            await tab.close();
          }
          report.pwned = await page.evaluate(() => localStorage.getItem("pwned"));
          report.title = await page.title();
        } finally {
          await browser.close();
        }
        console.log(JSON.stringify(report));
        """;

    [Fact]
    public async Task Files_a_script_writes_never_run_as_the_playground_s_origin_and_a_png_still_shows_inline()
    {
        var report = JsonDocument.Parse(await NodeClients.RunAsync("playground-files", FilesBrowserScript,
            stack.Gateway.BaseAddress!.ToString(), FilesScript)).RootElement;

        Assert.Empty(report.GetProperty("blocked").EnumerateArray());
        Assert.True(report.GetProperty("opened").GetArrayLength() >= 4, report.GetProperty("opened").GetRawText());
        // Nothing the files carry ran as the gateway's origin: not in a tab of its own, not in the page.
        Assert.True(report.GetProperty("pwned").ValueKind == JsonValueKind.Null, $"a file's script ran: {report.GetProperty("pwned")}");
        Assert.DoesNotContain("pwned", report.GetProperty("title").GetString(), StringComparison.Ordinal);
        foreach (var opened in report.GetProperty("opened").EnumerateArray())
        {
            Assert.DoesNotContain("pwned", opened.TryGetProperty("title", out var title) ? title.GetString() : "", StringComparison.Ordinal);
        }
        var image = Assert.Single(report.GetProperty("images").EnumerateArray());
        Assert.StartsWith("dot.png", image.GetProperty("alt").GetString(), StringComparison.Ordinal);
        Assert.Equal(3, image.GetProperty("width").GetInt32());
        Assert.Equal(2, report.GetProperty("links").GetArrayLength()); // the SVG and the HTML page: downloads
        Assert.Contains("script-src 'self'", report.GetProperty("csp").GetString(), StringComparison.Ordinal);
    }
}
