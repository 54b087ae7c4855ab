using System.Text;
using System.Text.Json;

namespace Executor.EndToEndTests;

/// <summary>A stack of its own with keys required, and a warm data-runtime container for charts and tables.</summary>
public sealed class E2bStackFixture : StackFixture
{
    public override string Deployment => "tests-e2b";

    protected override bool RequireKeys => true;

    protected override int DataPoolSize => 1;

    public async Task<(string Id, string Key)> CreateKeyAsync(string name)
    {
        using var admin = new HttpClient { BaseAddress = Gateway.BaseAddress };
        admin.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", OperatorKey);
        return await admin.CreateKeyAsync(name, null, "user");
    }
}

[CollectionDefinition(Name)]
public sealed class E2bCollection : ICollectionFixture<E2bStackFixture>
{
    public const string Name = "8 e2b";
}

/// <summary>
/// E2B's unmodified SDKs (e2b, @e2b/code-interpreter), configured only by E2B_API_URL, E2B_SANDBOX_URL and E2B_API_KEY
/// (an Executor key in E2B's e2b_&lt;hex&gt; form), through the gateway: every call the issue lists, and what Executor
/// answers "not supported" to.
/// </summary>
[Collection(E2bCollection.Name)]
public sealed class E2bTests(E2bStackFixture stack)
{
    [Fact]
    public async Task The_e2b_sdks_drive_a_sandbox_through_every_call_unchanged()
    {
        var (_, key) = await stack.CreateKeyAsync("e2b-sdk");
        var e2bKey = "e2b_" + Convert.ToHexStringLower(Encoding.UTF8.GetBytes(key));
        var gateway = stack.Gateway.BaseAddress!.ToString().TrimEnd('/');
        var output = await NodeClients.RunAsync("e2b", Script, gateway + "/e2b", gateway, e2bKey);
        using var document = JsonDocument.Parse(output.Trim().Split('\n')[^1]);
        var r = document.RootElement;
        string S(string name) => r.GetProperty(name).ToString();

        Assert.StartsWith("sbx_", S("id"));
        Assert.Equal("42", S("text"));
        Assert.Equal(2, r.GetProperty("executionCount").GetInt32());
        // onStdout and onStderr were called while the code ran: the line before the sleep came a second before the end.
        var live = r.GetProperty("live").EnumerateArray().ToList();
        Assert.Equal(["out", "one\n", "err", "two\n"], live.SelectMany(l => new[] { l[0].GetString()!, l[1].GetString()! }));
        Assert.True(r.GetProperty("streamEnd").GetInt64() - live[0][2].GetInt64() >= 700, output);
        Assert.Equal("ZeroDivisionError", r.GetProperty("error").GetProperty("name").GetString());
        Assert.Contains("1/0", r.GetProperty("error").GetProperty("traceback").GetString());
        Assert.Equal("('hi', 'c')", S("env"));

        Assert.Equal("hello file", S("read"));
        Assert.Equal("hello file", S("readRelative"));
        Assert.Equal("hello file", S("seenByCode"));
        Assert.Contains("\"path\":\"/home/user/data/a.txt\"", r.GetProperty("list").GetRawText());
        Assert.Contains("\"type\":\"file\"", r.GetProperty("list").GetRawText());
        Assert.True(r.GetProperty("exists").GetBoolean());
        Assert.False(r.GetProperty("missing").GetBoolean());
        Assert.True(r.GetProperty("makeDir").GetBoolean());
        Assert.False(r.GetProperty("makeDirAgain").GetBoolean());
        Assert.True(r.GetProperty("dirSeen").GetBoolean());
        Assert.False(r.GetProperty("existsAfterRemove").GetBoolean());
        Assert.False(r.GetProperty("dirAfterRemove").GetBoolean());
        Assert.StartsWith("SandboxError: 403", S("outside"));

        var command = r.GetProperty("command");
        Assert.Equal(0, command.GetProperty("exitCode").GetInt32());
        Assert.Equal("out\n/home/user\nhi x\n", command.GetProperty("stdout").GetString());
        Assert.Equal("err\n", command.GetProperty("stderr").GetString());
        Assert.Equal("out\n/home/user\nhi x\n", command.GetProperty("live").GetString());
        Assert.Equal("CommandExitError", r.GetProperty("commandFail").GetProperty("name").GetString());
        Assert.Equal(3, r.GetProperty("commandFail").GetProperty("exitCode").GetInt32());
        Assert.Contains("permission_denied", S("rootRefused"));

        Assert.Equal("ctx", S("contextValue"));
        Assert.Equal("41", S("mainValue"));
        Assert.True(r.GetProperty("contextListed").GetBoolean());
        Assert.Equal("NameError", S("afterRestart"));
        Assert.False(r.GetProperty("contextAfterRemove").GetBoolean());

        Assert.Equal(S("id"), r.GetProperty("info").GetProperty("id").GetString());
        Assert.Equal("code-interpreter-v1", r.GetProperty("info").GetProperty("template").GetString());
        Assert.Equal("e2b-tests", r.GetProperty("info").GetProperty("metadata").GetProperty("suite").GetString());
        Assert.InRange(r.GetProperty("info").GetProperty("endInMs").GetInt64(), 150_000, 201_000); // setTimeout(200 s), counted from then
        Assert.True(r.GetProperty("listed").GetBoolean());
        Assert.Equal(0, r.GetProperty("listedOther").GetInt32());
        Assert.Equal("41", S("connected"));

        Assert.Contains("501", S("pause"));
        Assert.Contains("may reach nothing", S("internet")); // the operator allows this stack's keys no egress
        Assert.Contains("400", S("unknownTemplate"));
        Assert.Equal(1, r.GetProperty("png").GetInt32());
        Assert.False(r.GetProperty("pngMain").GetBoolean());
        Assert.True(r.GetProperty("html").GetBoolean());
        Assert.True(r.GetProperty("htmlMain").GetBoolean());
        Assert.True(r.GetProperty("killData").GetBoolean());
        Assert.True(r.GetProperty("kill").GetBoolean());
        Assert.False(r.GetProperty("killAgain").GetBoolean());
        Assert.False(r.GetProperty("runningAfterKill").GetBoolean());
    }

    [Fact]
    public async Task Another_keys_sandbox_is_not_found_on_either_plane()
    {
        var (_, alice) = await stack.CreateKeyAsync("e2b-alice");
        var (_, bob) = await stack.CreateKeyAsync("e2b-bob");
        var gateway = stack.Gateway.BaseAddress!.ToString().TrimEnd('/');
        var output = await NodeClients.RunAsync("e2b-owners", """
            process.env.E2B_API_URL = process.argv[2]
            process.env.E2B_SANDBOX_URL = process.argv[3]
            const { Sandbox } = await import('@e2b/code-interpreter')
            const alice = { apiKey: process.argv[4] }, bob = { apiKey: process.argv[5] }
            const sbx = await Sandbox.create(alice)
            const out = {}
            out.bobConnect = await Sandbox.connect(sbx.sandboxId, bob).then(() => 'connected', e => e.name)
            out.bobInfo = await Sandbox.getInfo(sbx.sandboxId, bob).then(() => 'seen', e => e.name)
            out.bobKill = await Sandbox.kill(sbx.sandboxId, bob)
            out.bobList = (await Sandbox.list(bob).nextItems()).length
            out.stillThere = (await sbx.runCode('1 + 1')).text
            out.aliceKill = await sbx.kill()
            console.log(JSON.stringify(out))
            """, gateway + "/e2b", gateway, alice, bob);
        using var document = JsonDocument.Parse(output.Trim().Split('\n')[^1]);
        var r = document.RootElement;
        Assert.Equal("SandboxNotFoundError", r.GetProperty("bobConnect").GetString());
        Assert.Equal("SandboxNotFoundError", r.GetProperty("bobInfo").GetString());
        Assert.False(r.GetProperty("bobKill").GetBoolean());
        Assert.Equal(0, r.GetProperty("bobList").GetInt32());
        Assert.Equal("2", r.GetProperty("stillThere").GetString());
        Assert.True(r.GetProperty("aliceKill").GetBoolean());
    }

    /// <summary>Every call of the list, printing what the test checks as one JSON line.</summary>
    private const string Script = """
        process.env.E2B_API_URL = process.argv[2]
        process.env.E2B_SANDBOX_URL = process.argv[3]
        process.env.E2B_API_KEY = process.argv[4]
        const { Sandbox } = await import('@e2b/code-interpreter')
        const out = {}
        const failure = (e) => `${e.name}: ${e.message}`

        const sbx = await Sandbox.create({ metadata: { suite: 'e2b-tests' }, envs: { GREETING: 'hi' }, timeoutMs: 120_000 })
        out.id = sbx.sandboxId
        await sbx.runCode('x = 41')
        const answer = await sbx.runCode('x + 1')
        out.text = answer.text
        out.executionCount = answer.executionCount

        const live = []
        await sbx.runCode('import sys, time\nprint("one", flush=True)\ntime.sleep(1)\nprint("two", file=sys.stderr, flush=True)', {
          onStdout: (m) => live.push(['out', m.line, Date.now()]),
          onStderr: (m) => live.push(['err', m.line, Date.now()]),
        })
        out.streamEnd = Date.now()
        out.live = live
        const failed = await sbx.runCode('1/0')
        out.error = { name: failed.error?.name, value: failed.error?.value, traceback: failed.error?.traceback }
        out.env = (await sbx.runCode('import os\nos.environ.get("GREETING"), os.environ.get("CALL")', { envs: { CALL: 'c' } })).text

        await sbx.files.write('/home/user/data/a.txt', 'hello file')
        out.read = await sbx.files.read('/home/user/data/a.txt')
        out.readRelative = await sbx.files.read('data/a.txt')
        out.seenByCode = (await sbx.runCode('open("data/a.txt").read()')).text
        out.list = (await sbx.files.list('/home/user/data')).map((e) => ({ name: e.name, type: e.type, path: e.path }))
        out.exists = await sbx.files.exists('/home/user/data/a.txt')
        out.missing = await sbx.files.exists('/home/user/nope.txt')
        out.makeDir = await sbx.files.makeDir('/home/user/newdir/inner')
        out.makeDirAgain = await sbx.files.makeDir('/home/user/newdir/inner')
        out.dirSeen = (await sbx.files.list('/home/user/newdir')).some((e) => e.name === 'inner' && e.type === 'dir')
        await sbx.files.remove('/home/user/data/a.txt')
        out.existsAfterRemove = await sbx.files.exists('/home/user/data/a.txt')
        await sbx.files.remove('/home/user/newdir')
        out.dirAfterRemove = await sbx.files.exists('/home/user/newdir')
        out.outside = await sbx.files.read('/etc/passwd').then(() => 'read', failure)

        const commandLive = []
        const command = await sbx.commands.run('echo out; echo err >&2; pwd; echo $GREETING $EXTRA', {
          envs: { EXTRA: 'x' }, onStdout: (d) => commandLive.push(d),
        })
        out.command = { exitCode: command.exitCode, stdout: command.stdout, stderr: command.stderr, live: commandLive.join('') }
        out.commandFail = await sbx.commands.run('exit 3').then((r) => r, (e) => ({ name: e.name, exitCode: e.exitCode }))
        out.rootRefused = await sbx.commands.run('id', { user: 'root' }).then(() => 'ran', failure)

        const context = await sbx.createCodeContext()
        await sbx.runCode('x = "ctx"', { context })
        out.contextValue = (await sbx.runCode('x', { context })).text
        out.mainValue = (await sbx.runCode('x')).text
        out.contextListed = (await sbx.listCodeContexts()).some((c) => c.id === context.id)
        await sbx.restartCodeContext(context)
        out.afterRestart = (await sbx.runCode('x', { context })).error?.name
        await sbx.removeCodeContext(context)
        out.contextAfterRemove = (await sbx.listCodeContexts()).some((c) => c.id === context.id)

        await sbx.setTimeout(200_000)
        const info = await sbx.getInfo()
        out.info = { id: info.sandboxId, template: info.templateId, metadata: info.metadata, endInMs: info.endAt.getTime() - Date.now() }
        out.listed = (await Sandbox.list({ query: { metadata: { suite: 'e2b-tests' } } }).nextItems()).some((s) => s.sandboxId === sbx.sandboxId)
        out.listedOther = (await Sandbox.list({ query: { metadata: { suite: 'another' } } }).nextItems()).length
        const again = await Sandbox.connect(sbx.sandboxId)
        out.connected = (await again.runCode('x')).text

        out.pause = await sbx.pause().then(() => 'paused', failure)
        out.internet = await Sandbox.create({ allowInternetAccess: true }).then((s) => s.kill().then(() => 'created'), failure)
        out.unknownTemplate = await Sandbox.create('no-such-template').then((s) => s.kill().then(() => 'created'), failure)

        const data = await Sandbox.create('python-3.11-data')
        const chart = await data.runCode('import matplotlib.pyplot as plt\nplt.plot([1, 2, 3])\nplt.show()')
        out.png = chart.results.filter((r) => r.png).length
        out.pngMain = chart.results.find((r) => r.png)?.isMainResult
        const table = await data.runCode('import pandas as pd\npd.DataFrame({"a": [1, 2]})')
        out.html = table.results[0]?.html?.includes('<table') ?? false
        out.htmlMain = table.results[0]?.isMainResult
        out.killData = await data.kill()

        out.kill = await sbx.kill()
        out.killAgain = await Sandbox.kill(sbx.sandboxId)
        out.runningAfterKill = await sbx.isRunning()
        console.log(JSON.stringify(out))
        """;
}
