using System.Buffers;
using System.Text;
using System.Text.Json;
using Docker.DotNet;
using Executor.Contracts;
using Executor.EndToEndTests;
using Executor.Runner.Runs;
using Executor.Sandbox;

namespace Executor.UnitTests;

/// <summary>
/// The C# side of the frames written down in Contracts/frames.md: each case of Contracts/frames.golden.json is
/// encoded or decoded here and must give its exact bytes or values. tests/launcher/test_frames.py checks launcher.py
/// against the same file, so the two sides of the language boundary cannot drift apart unnoticed.
/// </summary>
public class FrameGoldenTests
{
    private static readonly JsonElement Golden =
        JsonDocument.Parse(File.ReadAllText(Path.Combine(Repository.Root, "Contracts", "frames.golden.json"))).RootElement;

    private static readonly Dictionary<string, byte> Kinds = new()
    {
        ["r"] = LauncherFrames.Ready,
        ["a"] = LauncherFrames.Accepted,
        ["o"] = LauncherFrames.Stdout,
        ["e"] = LauncherFrames.Stderr,
        ["f"] = LauncherFrames.File,
        ["d"] = LauncherFrames.Dropped,
        ["x"] = LauncherFrames.Exit,
        ["i"] = LauncherFrames.Input,
        ["c"] = LauncherFrames.InputEnd,
    };

    public static TheoryData<string, string> Job => Cases("job");

    public static TheoryData<string, string> LauncherStreams => Cases("launcher_output", "launcher_input");

    public static TheoryData<string, string> LauncherStdout => Cases("launcher_output");

    public static TheoryData<string, string> RunOutput => Cases("run_output");

    public static TheoryData<string, string> CommandJob => Cases("command_job");

    public static TheoryData<string, string> CommandFrames => Cases("command_frames");

    [Theory]
    [MemberData(nameof(CommandJob))]
    public void A_command_job_is_encoded_to_its_golden_bytes(string framing, string name)
    {
        var golden = Case(framing, name);
        var header = golden.GetProperty("header");
        var hasCommand = header.TryGetProperty("command", out var command); // none: Python, in the booted launcher
        string[] Strings(JsonElement array) => [.. array.EnumerateArray().Select(a => a.GetString()!)];
        var inputs = golden.GetProperty("case_inputs_hex").EnumerateArray().Select(h => Convert.FromHexString(h.GetString()!)).ToList();
        var caseHeaders = header.TryGetProperty("cases", out var c) ? c.EnumerateArray().ToList() : [];
        var request = new RunJob("s1",
            [.. golden.GetProperty("files").EnumerateArray().Select(f => new RunFile(f.GetProperty("path").GetString()!, Hex(f, "content_hex")))],
            header.GetProperty("entrypoint").GetString()!, Strings(header.GetProperty("args")),
            golden.TryGetProperty("stdin_hex", out var stdin) ? Encoding.UTF8.GetString(Convert.FromHexString(stdin.GetString()!)) : null,
            TimeoutSeconds: null, MemoryMb: null,
            Grading: inputs.Count == 0 ? null : new GradingSpec([.. inputs.Select(i => new TestCase(null, Encoding.UTF8.GetString(i), null))]));
        // The runtime's commands as the header has them (the job's arguments are already in "run").
        var language = new LanguageRuntime("golden", "c", "1", "image", 128, 0, [], [], new Dictionary<string, string>(), false,
            hasCommand && command.TryGetProperty("compile", out var compile) ? Strings(compile) : null, hasCommand ? Strings(command.GetProperty("run")) : null);
        var limits = new SandboxLimits((int)(header.GetProperty("timeout_ms").GetInt64() / 1000), 128, 1, 64, header.GetProperty("output_limit_bytes").GetInt64())
        {
            OutFilesMaxCount = header.GetProperty("out_files").GetProperty("max_count").GetInt32(),
            OutFilesMaxBytes = header.GetProperty("out_files").GetProperty("max_bytes").GetInt64(),
        };
        var stages = new LauncherJob.Stages(hasCommand ? command.GetProperty("compile_timeout_ms").GetInt64() : 0,
            hasCommand ? command.GetProperty("compile_output_limit_bytes").GetInt64() : 0,
            [.. caseHeaders.Select(h => h.GetProperty("timeout_ms").GetInt64())], TimeSpan.Zero,
            header.TryGetProperty("case_output_limit_bytes", out var caseLimit) ? caseLimit.GetInt64() : 0);

        Assert.Equal(golden.GetProperty("hex").GetString(), Convert.ToHexStringLower(LauncherJob.Encode(request, limits, null, language, stages)));
    }

    [Theory]
    [MemberData(nameof(CommandFrames))]
    public void A_command_frame_decodes_to_its_values(string framing, string name)
    {
        var golden = Case(framing, name);
        var output = new LauncherOutput(1 << 20, caseLimitBytes: 1 << 16);
        // Cases arrive in order: a golden case of index N follows N others.
        var index = golden.TryGetProperty("header", out var caseHeader) ? caseHeader.GetProperty("index").GetInt32() : 0;
        for (var i = 0; i < index; i++)
        {
            var earlier = Encoding.UTF8.GetBytes($$"""{"index": {{i}}, "outcome": "exited", "exit_code": 0, "signal": null, "cpu_ms": 1, "max_rss_bytes": 1, "wall_ms": 1, "oom_kills": 0, "stdout_size": 0, "stderr_size": 0, "stdout_truncated": false, "stderr_truncated": false}""");
            output.Feed(LauncherFrames.Encode(LauncherFrames.Case, [.. new byte[] { 0, 0, 0, (byte)earlier.Length }, .. earlier]));
        }

        output.Feed(Hex(golden, "hex"));

        Assert.False(output.Corrupt);
        switch (golden.GetProperty("kind").GetString())
        {
            case "b":
                var record = golden.GetProperty("record");
                Assert.Equal(new LauncherBuild(
                    record.GetProperty("outcome").GetString()!,
                    record.GetProperty("exit_code").ValueKind == JsonValueKind.Null ? null : record.GetProperty("exit_code").GetInt32(),
                    record.GetProperty("signal").ValueKind == JsonValueKind.Null ? null : record.GetProperty("signal").GetInt32(),
                    record.GetProperty("wall_ms").GetDouble(),
                    record.GetProperty("cpu_ms").GetDouble(),
                    record.GetProperty("max_rss_bytes").GetInt64(),
                    record.GetProperty("output").GetString(),
                    record.GetProperty("output_truncated").GetBoolean()), output.Build);
                break;
            case "t":
                var header = golden.GetProperty("header");
                var ended = output.Cases[^1];
                Assert.Equal((header.GetProperty("outcome").GetString(), header.GetProperty("max_rss_bytes").GetInt64(), header.GetProperty("wall_ms").GetDouble()),
                    (ended.Record.Outcome, ended.Record.MaxRssBytes!.Value, ended.Record.WallMs!.Value));
                Assert.Equal((golden.GetProperty("stdout_hex").GetString(), golden.GetProperty("stderr_hex").GetString()),
                    (Convert.ToHexStringLower(ended.Stdout), Convert.ToHexStringLower(ended.Stderr)));
                break;
            case "x":
                Assert.Equal(golden.GetProperty("record").GetProperty("outcome").GetString(), output.Exit!.Outcome);
                break;
            default:
                Assert.Fail($"no check for kind {golden.GetProperty("kind")}");
                break;
        }
    }

    [Theory]
    [MemberData(nameof(Job))]
    public void The_job_is_encoded_to_its_golden_bytes(string framing, string name)
    {
        var golden = Case(framing, name);
        var job = golden.GetProperty("run_job");
        var limits = golden.GetProperty("limits");
        var request = new RunJob("s1",
            [.. job.GetProperty("files").EnumerateArray().Select(f => new RunFile(f.GetProperty("path").GetString()!, Hex(f, "content_hex")))],
            job.GetProperty("entrypoint").GetString()!,
            [.. job.GetProperty("args").EnumerateArray().Select(a => a.GetString()!)],
            job.GetProperty("stdin").GetString(),
            TimeoutSeconds: null,
            MemoryMb: null,
            Interactive: job.GetProperty("interactive").GetBoolean());
        var sandboxLimits = new SandboxLimits(limits.GetProperty("timeout_seconds").GetInt32(), 128, 1, 64, limits.GetProperty("output_limit_bytes").GetInt64())
        {
            OutFilesMaxCount = limits.GetProperty("out_files_max_count").GetInt32(),
            OutFilesMaxBytes = limits.GetProperty("out_files_max_bytes").GetInt64(),
        };

        var egress = golden.GetProperty("header").TryGetProperty("egress", out var e)
            ? new LauncherEgress(e.GetProperty("socket").GetString()!, e.GetProperty("port").GetInt32(), e.GetProperty("authority").GetString())
            : null;

        Assert.Equal(golden.GetProperty("hex").GetString(), Convert.ToHexStringLower(LauncherJob.Encode(request, sandboxLimits, egress)));
    }

    [Theory]
    [MemberData(nameof(LauncherStreams))]
    public void A_launcher_frame_is_its_kind_then_the_payload_length_big_endian(string framing, string name)
    {
        var golden = Case(framing, name);
        var bytes = Hex(golden, "hex");
        var kind = Kinds[golden.GetProperty("kind").GetString()!];

        Assert.Equal(bytes, LauncherFrames.Encode(kind, bytes.AsSpan(LauncherFrames.HeaderSize)));
        if (golden.TryGetProperty("payload_hex", out _))
        {
            Assert.Equal(bytes, LauncherFrames.Encode(kind, Hex(golden, "payload_hex")));
        }
    }

    [Theory]
    [MemberData(nameof(LauncherStdout))]
    public void A_launcher_output_frame_decodes_to_its_values(string framing, string name)
    {
        var golden = Case(framing, name);
        var output = new LauncherOutput(1 << 20, maxFiles: 32, maxFileBytes: 8 << 20);

        output.Feed(Hex(golden, "hex"));

        Assert.False(output.Corrupt);
        switch (golden.GetProperty("kind").GetString())
        {
            case "r":
                Assert.False(output.JobAccepted);
                Assert.Equal(LauncherFrames.ReadyFrame.ToArray(), Hex(golden, "hex"));
                break;
            case "a":
                Assert.True(output.JobAccepted);
                break;
            case "o":
                Assert.Equal(Encoding.UTF8.GetString(Hex(golden, "payload_hex")), output.Stdout);
                break;
            case "e":
                Assert.Equal(Encoding.UTF8.GetString(Hex(golden, "payload_hex")), output.Stderr);
                break;
            case "f":
                var file = Assert.Single(output.Files);
                Assert.Equal((golden.GetProperty("path").GetString(), golden.GetProperty("content_hex").GetString()), (file.Path, Convert.ToHexStringLower(file.Content!)));
                break;
            case "d":
                Assert.Equal(
                    new DroppedFile(golden.GetProperty("path").GetString()!, golden.GetProperty("size").GetInt64(), golden.GetProperty("reason").GetString()!),
                    Assert.Single(output.DroppedFiles));
                break;
            case "x":
                var exit = golden.GetProperty("exit");
                Assert.Equal(new LauncherExit(
                    exit.GetProperty("outcome").GetString()!,
                    exit.GetProperty("exit_code").ValueKind == JsonValueKind.Null ? null : exit.GetProperty("exit_code").GetInt32(),
                    exit.GetProperty("signal").ValueKind == JsonValueKind.Null ? null : exit.GetProperty("signal").GetInt32(),
                    exit.GetProperty("cpu_ms").GetDouble(),
                    exit.GetProperty("max_rss_bytes").GetInt64(),
                    exit.GetProperty("wall_ms").GetDouble(),
                    exit.GetProperty("oom_kills").GetInt32(),
                    exit.GetProperty("stdout_truncated").GetBoolean(),
                    exit.GetProperty("stderr_truncated").GetBoolean(),
                    Detail: null), output.Exit);
                break;
            default:
                Assert.Fail($"no check for kind {golden.GetProperty("kind")}");
                break;
        }
    }

    [Fact]
    public async Task A_warm_container_is_ready_at_the_golden_ready_frame()
    {
        var ready = Hex(Case("launcher_output", "ready"), "hex");
        // As the engine hands it over: a multiplexed stream, 8 bytes of header (1 = stdout, big-endian length) per piece.
        byte[] multiplexed = [1, 0, 0, 0, 0, 0, 0, (byte)ready.Length, .. ready];

        Assert.True(await LauncherReadiness.WaitAsync(new MultiplexedStream(new MemoryStream(multiplexed), multiplexed: true), CancellationToken.None));
    }

    [Theory]
    [MemberData(nameof(RunOutput))]
    public void A_run_output_frame_is_encoded_and_decoded_as_its_golden_bytes(string framing, string name)
    {
        var golden = Case(framing, name);
        var (stdout, offset, payload) = (golden.GetProperty("stdout").GetBoolean(), golden.GetProperty("offset").GetInt64(), Hex(golden, "payload_hex"));
        var written = new ArrayBufferWriter<byte>();

        OutputFrames.Write(written, stdout, offset, payload);
        var buffer = new ReadOnlySequence<byte>(Hex(golden, "hex"));

        Assert.Equal(golden.GetProperty("hex").GetString(), Convert.ToHexStringLower(written.WrittenSpan));
        Assert.True(OutputFrames.TryRead(ref buffer, out var chunk));
        Assert.Equal((stdout, offset, golden.GetProperty("payload_hex").GetString()), (chunk.Stdout, chunk.Offset, Convert.ToHexStringLower(chunk.Data)));
        Assert.True(buffer.IsEmpty);
    }

    /// <summary>(framing, case name) of every case of the framings: a failure names its case.</summary>
    private static TheoryData<string, string> Cases(params string[] framings)
    {
        var cases = new TheoryData<string, string>();
        foreach (var framing in framings)
        {
            foreach (var golden in Golden.GetProperty(framing).EnumerateArray())
            {
                cases.Add(framing, golden.GetProperty("name").GetString()!);
            }
        }
        return cases;
    }

    private static JsonElement Case(string framing, string name) =>
        Golden.GetProperty(framing).EnumerateArray().Single(c => c.GetProperty("name").GetString() == name);

    private static byte[] Hex(JsonElement element, string property) => Convert.FromHexString(element.GetProperty(property).GetString()!);
}
