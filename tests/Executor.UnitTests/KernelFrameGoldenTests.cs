using System.Text.Json;
using System.Text.Json.Nodes;
using Executor.Contracts;
using Executor.EndToEndTests;
using Executor.Runner.Sandboxes;

namespace Executor.UnitTests;

/// <summary>
/// The C# side of the kernel mode's frames (Contracts/frames.md, section 7): the runner's kernel job, its requests and
/// its reading of the launcher's kernel frames give exactly the golden cases of Contracts/frames.golden.json, which
/// tests/launcher/test_frames.py checks launcher.py against.
/// </summary>
public class KernelFrameGoldenTests
{
    private static readonly JsonElement Golden =
        JsonDocument.Parse(File.ReadAllText(Path.Combine(Repository.Root, "Contracts", "frames.golden.json"))).RootElement;

    public static TheoryData<string> Requests => Names("kernel_requests");

    public static TheoryData<string> Frames => Names("kernel_frames");

    public static TheoryData<string> Jobs => Names("kernel_job");

    [Theory]
    [MemberData(nameof(Jobs))]
    public void The_kernel_job_is_encoded_to_its_golden_bytes(string name)
    {
        var golden = Case("kernel_job", name);
        var files = golden.GetProperty("header").GetProperty("files");
        var bounds = new KernelFileBounds(files.GetProperty("max_file_bytes").GetInt64(), files.GetProperty("max_total_bytes").GetInt64(),
            files.GetProperty("max_count").GetInt32());
        var egress = golden.GetProperty("header").TryGetProperty("egress", out var e)
            ? new LauncherEgress(e.GetProperty("socket").GetString()!, e.GetProperty("port").GetInt32(), e.GetProperty("authority").GetString())
            : null;

        var header = KernelFrameReader.Line(new KernelHeader(KernelHeader.Kernel, bounds) { Egress = egress }, KernelJsonContext.Default.KernelHeader);

        Assert.Equal(Hex(golden, "hex"), header);
    }

    [Theory]
    [MemberData(nameof(Requests))]
    public void A_request_is_encoded_to_its_golden_bytes(string name)
    {
        var golden = Case("kernel_requests", name);
        var kind = (byte)golden.GetProperty("kind").GetString()![0];
        var payload = kind switch
        {
            LauncherFrames.Call => JsonSerializer.SerializeToUtf8Bytes(
                JsonSerializer.Deserialize(golden.GetProperty("json"), KernelJsonContext.Default.KernelCallRequest)!, KernelJsonContext.Default.KernelCallRequest),
            LauncherFrames.Restart => JsonSerializer.SerializeToUtf8Bytes(
                JsonSerializer.Deserialize(golden.GetProperty("json"), KernelJsonContext.Default.KernelRestartRequest)!,
                KernelJsonContext.Default.KernelRestartRequest),
            LauncherFrames.FileOperation => KernelFrameReader.Line(
                JsonSerializer.Deserialize(golden.GetProperty("json"), KernelJsonContext.Default.KernelFileRequest)!, KernelJsonContext.Default.KernelFileRequest,
                Hex(golden, "content_hex")),
            _ => Hex(golden, "payload_hex"),
        };

        Assert.Equal(Hex(golden, "hex"), LauncherFrames.Encode(kind, payload));
    }

    [Theory]
    [MemberData(nameof(Frames))]
    public void A_frame_is_read_as_its_golden_value(string name)
    {
        var golden = Case("kernel_frames", name);
        var reader = new KernelFrameReader(maxMessageBytes: 1 << 20, maxFileBytes: 1 << 20);
        var frames = new List<KernelFrame>();

        reader.Feed(Hex(golden, "hex"), frames);

        Assert.False(reader.Corrupt, reader.Problem);
        var frame = Assert.Single(frames);
        Assert.Equal((byte)golden.GetProperty("kind").GetString()![0], frame.Kind);
        switch (frame.Kind)
        {
            case LauncherFrames.Message:
                AssertJson(golden.GetProperty("message"), frame.Payload);
                break;
            case LauncherFrames.CallRecord:
                var record = JsonSerializer.Deserialize(frame.Payload, KernelJsonContext.Default.KernelCallRecord)!;
                AssertJson(golden.GetProperty("record"), JsonSerializer.SerializeToUtf8Bytes(record, KernelJsonContext.Default.KernelCallRecord));
                break;
            case LauncherFrames.FileAnswer:
                var (line, content) = KernelFrameReader.SplitLine(frame.Payload)!.Value;
                var answer = JsonSerializer.Deserialize(line.Span, KernelJsonContext.Default.KernelFileAnswer)!;
                AssertJson(golden.GetProperty("answer"), JsonSerializer.SerializeToUtf8Bytes(answer, KernelJsonContext.Default.KernelFileAnswer));
                Assert.Equal(Hex(golden, "content_hex"), content.ToArray());
                break;
            default:
                Assert.Empty(frame.Payload);
                break;
        }
    }

    /// <summary>The same JSON value (members in any order; a member the golden case leaves out must be null here).</summary>
    private static void AssertJson(JsonElement expected, byte[] actual)
    {
        var want = JsonNode.Parse(expected.GetRawText())!.AsObject();
        var got = JsonNode.Parse(actual)!.AsObject();
        foreach (var (key, value) in got.ToList())
        {
            if (value is null && !want.ContainsKey(key))
            {
                got.Remove(key);
            }
        }
        Assert.True(JsonNode.DeepEquals(want, got), $"expected {want.ToJsonString()}, got {got.ToJsonString()}");
    }

    private static TheoryData<string> Names(string framing)
    {
        var names = new TheoryData<string>();
        foreach (var golden in Golden.GetProperty(framing).EnumerateArray())
        {
            names.Add(golden.GetProperty("name").GetString()!);
        }
        return names;
    }

    private static JsonElement Case(string framing, string name) =>
        Golden.GetProperty(framing).EnumerateArray().Single(c => c.GetProperty("name").GetString() == name);

    private static byte[] Hex(JsonElement element, string property) =>
        element.TryGetProperty(property, out var hex) ? Convert.FromHexString(hex.GetString()!) : [];
}
