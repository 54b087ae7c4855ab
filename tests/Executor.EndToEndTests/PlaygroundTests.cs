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
    private const string Script = """
        import puppeteer from "puppeteer-core";
        const [base, out] = process.argv.slice(2);
        const browser = await puppeteer.launch({
          executablePath: "/usr/bin/chromium",
          headless: true,
          args: ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--disable-dev-shm-usage", "--disable-quic"],
          defaultViewport: { width: 1280, height: 860 },
        });
        const report = { errors: [], blocked: [] };
        const consoleText = () => page.evaluate(() => document.getElementById("console").innerText);
        const idle = () => page.waitForFunction(() => !document.getElementById("run").disabled, { timeout: 60000 });
        const status = () => page.evaluate(() => document.getElementById("status").innerText);
        let page;
        try {
          page = await browser.newPage();
          page.on("console", (m) => { if (m.type() === "error") report.errors.push(m.text()); });
          page.on("pageerror", (e) => report.errors.push(e.message));
          await page.setRequestInterception(true);
          page.on("request", (request) => {
            const url = new URL(request.url());
            if (["blob:", "data:"].includes(url.protocol) || ["127.0.0.1", "localhost", "[::1]"].includes(url.hostname)) request.continue();
            else { report.blocked.push(request.url()); request.abort(); }
          });
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
        var screenshots = Path.Combine(Repository.Root, "TestResults");
        Directory.CreateDirectory(screenshots);

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
}
