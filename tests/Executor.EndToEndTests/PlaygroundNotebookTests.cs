using System.Text.Json;

namespace Executor.EndToEndTests;

/// <summary>
/// The playground's notebook mode in headless Chromium, against a real stateful sandbox: cells run with Shift+Enter share
/// one namespace, an error shows its traceback, output shows while its cell runs, an endless loop is interrupted and the
/// next cell still sees the variables, a restart empties the namespace, Run all stops at the first failing cell, HTML a
/// cell returns is shown in a frame where its script does not run, a DataFrame and a matplotlib figure show under their
/// cells in the data runtime, and leaving the page ends the sandbox.
/// </summary>
[Collection(StackCollection.Name)]
public sealed class PlaygroundNotebookTests(StackFixture stack)
{
    private const string Script = PlaygroundTests.Launch + """
        const [base, out, dataRuntime] = process.argv.slice(2);
        const report = { errors: [], blocked: [], runs: [] };
        let page;
        const outputs = (i) => page.evaluate((i) => document.querySelectorAll(".cell .outputs")[i]?.innerText ?? "", i);
        const prompt = (i) => page.evaluate((i) => document.querySelectorAll(".cell .prompt")[i]?.textContent ?? "", i);
        const cellCount = () => page.evaluate(() => document.querySelectorAll(".cell").length);
        const idle = () => page.waitForFunction(() => !document.querySelector(".cell[data-state]"), { timeout: 90000 });
        const status = () => page.evaluate(() => document.getElementById("nb-status").innerText);
        const shiftEnter = async () => { await page.keyboard.down("Shift"); await page.keyboard.press("Enter"); await page.keyboard.up("Shift"); };
        // A person types a line into the focused cell and runs it with Shift+Enter; the next cell takes the focus.
        const runLine = async (code) => {
          const before = await cellCount();
          await page.keyboard.type(code);
          await shiftEnter();
          await page.waitForFunction((n) => document.querySelectorAll(".cell").length >= n && document.activeElement.closest(".cell") === [...document.querySelectorAll(".cell")].at(-1), { timeout: 10000 }, before);
          return before - 1;
        };
        const ran = async (code) => { const i = await runLine(code); await idle(); return { prompt: await prompt(i), text: await outputs(i) }; };
        try {
          page = await watchedPage(report);
          page.on("request", (request) => { if (new URL(request.url()).pathname.endsWith("/run")) report.runs.push(request.url()); });
          await page.goto(base, { waitUntil: "networkidle0" });
          await page.click("#mode-notebook");
          await page.waitForFunction(() => document.querySelectorAll("#nb-runtime option").length >= 2, { timeout: 30000 });

          // Two cells that share the namespace, run with Shift+Enter.
          await page.click(".cell .cm-content");
          await runLine("x = 21");
          report.shared = await ran("x * 2");
          report.first = await prompt(0);
          report.status = await status();

          // An error with its traceback, then output that shows while its cell still runs.
          report.error = await ran("1 / 0");
          const live = await runLine('import time; print("first", flush=True); time.sleep(2); print("second")');
          await page.waitForFunction((i) => document.querySelectorAll(".cell .outputs")[i].innerText.includes("first"), { timeout: 30000 }, live);
          report.early = { text: await outputs(live), running: await page.evaluate((i) => document.querySelectorAll(".cell")[i].dataset.state === "running", live) };
          await idle();
          report.live = await outputs(live);

          // An endless loop, interrupted: the namespace survives.
          const loop = await runLine("while True: pass");
          await page.waitForFunction(() => !document.getElementById("nb-interrupt").disabled, { timeout: 30000 });
          await new Promise((resolve) => setTimeout(resolve, 1000));
          await page.click("#nb-interrupt");
          await idle();
          report.interrupted = { text: await outputs(loop), status: await page.evaluate((i) => document.querySelectorAll(".cell")[i].dataset.status, loop) };
          await page.click(".cell:last-of-type .cm-content");
          report.after = await ran("x + 1");

          // Restart: a fresh namespace in the same sandbox.
          const sandboxBefore = await page.evaluate(() => document.getElementById("nb-status").dataset.sandboxId);
          await page.click("#nb-restart");
          await page.waitForFunction(() => document.getElementById("nb-message").textContent.includes("Restarted"), { timeout: 30000 });
          await page.click(".cell:last-of-type .cm-content");
          report.restarted = { ...(await ran("'x' in dir()")), sameSandbox: sandboxBefore === await page.evaluate(() => document.getElementById("nb-status").dataset.sandboxId) };

          // Run all: the cells in order, until one fails (the third, 1 / 0): the rest are not run.
          const runsBefore = report.runs.length;
          await page.click("#nb-run-all");
          await page.waitForFunction(() => document.querySelectorAll(".cell")[2].dataset.status === "error" && !document.querySelector(".cell[data-state]"), { timeout: 60000 });
          report.runAll = { runs: report.runs.length - runsBefore, prompts: [await prompt(0), await prompt(1), await prompt(2)], second: await outputs(1) };

          // HTML a cell returns is shown in a sandboxed frame, where its script does not run.
          await page.click(".cell:last-of-type .cm-content");
          const evil = await runLine("type('Evil', (), {'_repr_html_': lambda self: '<b id=bold>bold</b><img src=data:, onerror=parent.localStorage.setItem(1,2)><script>parent.localStorage.setItem(3,4)</script>'})()");
          await idle();
          await new Promise((resolve) => setTimeout(resolve, 500));
          report.html = await page.evaluate((i) => {
            const frame = document.querySelectorAll(".cell")[i].querySelector("iframe");
            return { sandbox: frame?.getAttribute("sandbox"), bold: frame?.contentDocument?.getElementById("bold")?.textContent, stored: localStorage.length };
          }, evil);

          if (dataRuntime) {
            // The data runtime: a new sandbox; a DataFrame's HTML and a matplotlib figure under their cells.
            await page.click("#nb-close");
            await page.waitForFunction(() => document.getElementById("nb-status").dataset.state === "ended", { timeout: 30000 });
            await page.select("#nb-runtime", dataRuntime);
            await page.click(".cell:last-of-type .cm-content");
            const frame = await runLine('import pandas as pd; df = pd.DataFrame({"n": range(5), "square": [i * i for i in range(5)]}); df');
            await idle();
            await new Promise((resolve) => setTimeout(resolve, 500));
            report.table = await page.evaluate((i) => document.querySelectorAll(".cell")[i].querySelector("iframe")?.contentDocument?.querySelectorAll("tbody tr").length ?? 0, frame);
            report.tablePrompt = await prompt(frame);
            const plot = await runLine("import matplotlib.pyplot as plt; fig, ax = plt.subplots(figsize=(4, 3), dpi=100); ax.plot([1, 3, 2]); plt.show()");
            await idle();
            await page.waitForFunction((i) => [...document.querySelectorAll(".cell")[i].querySelectorAll("img")].some((m) => m.complete && m.naturalWidth > 0), { timeout: 30000 }, plot).catch(() => {});
            report.plot = await page.evaluate((i) => [...document.querySelectorAll(".cell")[i].querySelectorAll("img")].map((m) => m.naturalWidth), plot);
            report.plotText = await outputs(plot);
            report.dataStatus = await status();
          }
          await page.screenshot({ path: `${out}/notebook.png`, fullPage: true });

          // A phone-sized screen: nothing wider than the viewport.
          await page.setViewport({ width: 390, height: 844 });
          report.phone = await page.evaluate(() => document.documentElement.scrollWidth);

          // Leaving the page ends its sandbox.
          report.sandbox = await page.evaluate(() => document.getElementById("nb-status").dataset.sandboxId);
          await page.goto("about:blank");
          for (let i = 0; i < 50; i++) {
            const response = await fetch(new URL(`sandboxes/${report.sandbox}`, base));
            report.left = response.status === 200 ? (await response.json()).state : String(response.status);
            if (report.left !== "running") break;
            await new Promise((resolve) => setTimeout(resolve, 200));
          }
        } finally {
          await browser.close();
        }
        console.log(JSON.stringify(report));
        """;

    [Fact]
    public async Task Cells_share_a_sandbox_show_rich_output_are_interrupted_and_restarted_and_the_sandbox_ends_with_the_page()
    {
        var screenshots = PlaygroundTests.ScreenshotDirectory();

        var report = JsonDocument.Parse(await NodeClients.RunAsync("playground-notebook", Script,
            stack.Gateway.BaseAddress!.ToString(), screenshots, "python-3.11-data")).RootElement;
        string Text(string name, string field = "text") => report.GetProperty(name).GetProperty(field).GetString()!;

        // The only console errors are Chromium's refusals of the hostile HTML's script and handler.
        Assert.All(report.GetProperty("errors").EnumerateArray(),
            error => Assert.StartsWith("Blocked script execution in 'about:srcdoc'", error.GetString(), StringComparison.Ordinal));
        Assert.Empty(report.GetProperty("blocked").EnumerateArray());

        Assert.Equal("[1]:", report.GetProperty("first").GetString());
        Assert.Equal("[2]:", Text("shared", "prompt"));
        Assert.Equal("42", Text("shared").Trim());
        Assert.Contains("running", report.GetProperty("status").GetString(), StringComparison.Ordinal);
        Assert.Contains("expires", report.GetProperty("status").GetString(), StringComparison.Ordinal);

        Assert.Equal("[3]:", Text("error", "prompt"));
        Assert.Contains("ZeroDivisionError", Text("error"), StringComparison.Ordinal);
        Assert.DoesNotContain("\u001b", Text("error"), StringComparison.Ordinal);

        Assert.Contains("first", Text("early"), StringComparison.Ordinal);
        Assert.DoesNotContain("second", Text("early"), StringComparison.Ordinal);
        Assert.True(report.GetProperty("early").GetProperty("running").GetBoolean());
        Assert.Contains("first\nsecond", report.GetProperty("live").GetString(), StringComparison.Ordinal);

        Assert.Equal("interrupted", Text("interrupted", "status"));
        Assert.Contains("Interrupted", Text("interrupted"), StringComparison.Ordinal);
        Assert.Equal("22", Text("after").Trim()); // the namespace survived the interrupt

        Assert.Equal("False", Text("restarted").Trim());
        Assert.Equal("[1]:", Text("restarted", "prompt"));
        Assert.True(report.GetProperty("restarted").GetProperty("sameSandbox").GetBoolean());

        var runAll = report.GetProperty("runAll");
        Assert.Equal(3, runAll.GetProperty("runs").GetInt32()); // x = 21, x * 2, 1 / 0: then it stopped
        Assert.Equal(["[2]:", "[3]:", "[4]:"], runAll.GetProperty("prompts").EnumerateArray().Select(p => p.GetString()!));
        Assert.Equal("42", runAll.GetProperty("second").GetString()!.Trim());

        var html = report.GetProperty("html");
        Assert.Equal("allow-same-origin", html.GetProperty("sandbox").GetString()); // no allow-scripts
        Assert.Equal("bold", html.GetProperty("bold").GetString());
        Assert.Equal(0, html.GetProperty("stored").GetInt32()); // neither the <script> nor the onerror handler ran

        Assert.Equal(5, report.GetProperty("table").GetInt32());
        // 4 in at 100 dpi, less the margins a tight bounding box trims, as IPython's inline backend does.
        Assert.Contains(report.GetProperty("plot").EnumerateArray(), width => width.GetInt32() is > 200 and <= 400);
        Assert.Contains("python-3.11-data", report.GetProperty("dataStatus").GetString(), StringComparison.Ordinal);

        Assert.True(report.GetProperty("phone").GetInt32() <= 390, $"the page is {report.GetProperty("phone")} px wide on a 390 px screen");
        Assert.NotEqual("running", report.GetProperty("left").GetString()); // ended, or already gone (404)
        Assert.True(File.Exists(Path.Combine(screenshots, "notebook.png")));
    }
}
