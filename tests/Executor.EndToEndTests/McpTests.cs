using System.Text.Json;

namespace Executor.EndToEndTests;

/// <summary>
/// The MCP server at /mcp on the gateway, driven by the TypeScript SDK's client against real runs. The C# SDK's client
/// checks the server's shapes in process (Executor.ServiceTests' McpTests).
/// </summary>
[Collection(StackCollection.Name)]
public sealed class McpTests(StackFixture stack)
{
    private const string Plot = """
        import matplotlib.pyplot as plt
        fig, ax = plt.subplots(figsize=(3, 2), dpi=100)
        ax.bar(["a", "b", "c"], [3, 1, 2])
        fig.savefig("out/bars.png")
        with open("out/summary.csv", "w") as f:
            f.write("label,value\na,3\n")
        print("plotted")
        """;

    private Uri Endpoint => new(stack.Gateway.BaseAddress!, "/mcp");

    [Fact]
    public async Task The_typescript_sdk_client_lists_the_tools_runs_hello_world_and_gets_a_plot_back()
    {
        var output = JsonDocument.Parse(await NodeClients.RunAsync("mcp", $$"""
            import { Client } from "@modelcontextprotocol/sdk/client/index.js";
            import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
            const client = new Client({ name: "executor-e2e", version: "1.0.0" });
            await client.connect(new StreamableHTTPClientTransport(new URL(process.argv[2])));
            const tools = await client.listTools();
            const hello = await client.callTool({ name: "run_python", arguments: { code: "print('Hello from Python')" } });
            const plot = await client.callTool({ name: "run_python", arguments: { runtime: "python-3.11-data", code: {{JsonSerializer.Serialize(Plot)}} } });
            await client.close();
            console.log(JSON.stringify({ tools: tools.tools.map(t => t.name), hello, plot }));
            """, Endpoint.ToString())).RootElement;

        Assert.Equal(["grade", "list_runtimes", "run_code", "run_python", "sandbox_close", "sandbox_create", "sandbox_download", "sandbox_list_files", "sandbox_run",
            "sandbox_upload"], output.GetProperty("tools").EnumerateArray().Select(t => t.GetString()).Order(StringComparer.Ordinal));
        var hello = output.GetProperty("hello").GetProperty("content")[0];
        Assert.Equal("text", hello.GetProperty("type").GetString());
        Assert.Equal("Hello from Python\n", JsonDocument.Parse(hello.GetProperty("text").GetString()!).RootElement.GetProperty("stdout").GetString());
        var image = output.GetProperty("plot").GetProperty("content").EnumerateArray().Single(c => c.GetProperty("type").GetString() == "image");
        Assert.Equal("image/png", image.GetProperty("mimeType").GetString());
        Assert.Equal([0x89, (byte)'P', (byte)'N', (byte)'G'], Convert.FromBase64String(image.GetProperty("data").GetString()!)[..4]);
    }

    [Fact]
    public async Task The_typescript_sdk_client_keeps_a_sandbox_across_its_calls_gets_a_figure_as_an_image_and_closes_it()
    {
        var output = JsonDocument.Parse(await NodeClients.RunAsync("mcp", """
            import { Client } from "@modelcontextprotocol/sdk/client/index.js";
            import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
            const client = new Client({ name: "executor-e2e", version: "1.0.0" });
            await client.connect(new StreamableHTTPClientTransport(new URL(process.argv[2])));
            const call = async (name, args) => (await client.callTool({ name, arguments: args }));
            const created = await call("sandbox_create", { runtime: "python-3.11-data" });
            const sandboxId = JSON.parse(created.content[0].text).sandbox_id;
            const set = await call("sandbox_run", { sandboxId, code: "import pandas as pd\ndf = pd.DataFrame({'v': [3, 1, 2]})" });
            const value = await call("sandbox_run", { sandboxId, code: "int(df.v.sum())" });
            const figure = await call("sandbox_run", { sandboxId, code: "import matplotlib.pyplot as plt\nplt.plot(df.v)\nplt.show()" });
            const upload = await call("sandbox_upload", { sandboxId, path: "notes.txt", text: "kept" });
            const read = await call("sandbox_run", { sandboxId, code: "open('notes.txt').read()" });
            const closed = await call("sandbox_close", { sandboxId });
            await client.close();
            console.log(JSON.stringify({ set, value, figure, upload, read, closed }));
            """, Endpoint.ToString())).RootElement;

        Assert.False(output.GetProperty("set").GetProperty("isError").GetBoolean(), output.GetProperty("set").ToString());
        Assert.Equal("6", output.GetProperty("value").GetProperty("content")[1].GetProperty("text").GetString());
        var image = output.GetProperty("figure").GetProperty("content").EnumerateArray().Single(c => c.GetProperty("type").GetString() == "image");
        Assert.Equal([0x89, (byte)'P', (byte)'N', (byte)'G'], Convert.FromBase64String(image.GetProperty("data").GetString()!)[..4]);
        Assert.Equal("'kept'", output.GetProperty("read").GetProperty("content")[1].GetProperty("text").GetString());
        Assert.Contains("\"state\": \"ended\"", output.GetProperty("closed").GetProperty("content")[0].GetProperty("text").GetString(), StringComparison.Ordinal);
    }
}
