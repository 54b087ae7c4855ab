using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Executor.Contracts;
using Executor.Session.Apis;
using Executor.Session.Compat.Jupyter;

namespace Executor.UnitTests;

/// <summary>Jupyter's kernel WebSocket framings, against frames @jupyterlab/services 7.6.6 itself made, and the mapping of calls to messages.</summary>
public class JupyterWireTests
{
    /// <summary>@jupyterlab/services' serialize(msg, "v1.kernel.websocket.jupyter.org") of <see cref="Message"/> with one buffer [1, 2, 3].</summary>
    private const string V1Golden = "BwAAAAAAAABAAAAAAAAAAEUAAAAAAAAAwQAAAAAAAADDAAAAAAAAAMUAAAAAAAAA5wAAAAAAAADqAAAAAAAAAHNoZWxseyJtc2dfaWQiOiJtMSIsIm1zZ190eXBlIjoiZXhlY3V0ZV9yZXF1ZXN0Iiwic2Vzc2lvbiI6InMxIiwidXNlcm5hbWUiOiJ1IiwidmVyc2lvbiI6IjUuMyIsImRhdGUiOiIyMDI2LTEyLTAzVDAwOjAwOjAwLjAwMFoifXt9e317ImNvZGUiOiJwcmludCgxKSIsInNpbGVudCI6ZmFsc2V9AQID";

    /// <summary>The same message in the legacy framing with its buffer (serialize(msg, "")): big-endian offsets, the JSON, the buffer.</summary>
    private const string LegacyBinaryGolden = "AAAAAgAAAAwAAADzeyJjaGFubmVsIjoic2hlbGwiLCJoZWFkZXIiOnsibXNnX2lkIjoibTEiLCJtc2dfdHlwZSI6ImV4ZWN1dGVfcmVxdWVzdCIsInNlc3Npb24iOiJzMSIsInVzZXJuYW1lIjoidSIsInZlcnNpb24iOiI1LjMiLCJkYXRlIjoiMjAyNi0xMi0wM1QwMDowMDowMC4wMDBaIn0sInBhcmVudF9oZWFkZXIiOnt9LCJtZXRhZGF0YSI6e30sImNvbnRlbnQiOnsiY29kZSI6InByaW50KDEpIiwic2lsZW50IjpmYWxzZX19AQID";

    private static KernelMessage Message => new("shell",
        new JsonObject
        {
            ["msg_id"] = "m1", ["msg_type"] = "execute_request", ["session"] = "s1", ["username"] = "u", ["version"] = "5.3",
            ["date"] = "2026-12-03T00:00:00.000Z",
        },
        [], [], new JsonObject { ["code"] = "print(1)", ["silent"] = false })
    {
        Buffers = [[1, 2, 3]],
    };

    [Fact]
    public void A_v1_frame_of_the_javascript_client_decodes_to_its_message_and_encodes_back_byte_for_byte()
    {
        var frame = Convert.FromBase64String(V1Golden);
        var message = KernelWire.DecodeV1(frame)!;

        Assert.Equal(("shell", "execute_request", "print(1)"), (message.Channel, message.Type, message.Content["code"]!.GetValue<string>()));
        Assert.Empty(message.ParentHeader);
        Assert.Equal([1, 2, 3], Assert.Single(message.Buffers));
        Assert.Equal(frame, KernelWire.EncodeV1(Message));
    }

    [Fact]
    public void Legacy_frames_decode_as_text_and_as_binary_with_their_buffers()
    {
        var binary = KernelWire.DecodeLegacy(Convert.FromBase64String(LegacyBinaryGolden), text: false)!;
        Assert.Equal(("shell", "m1"), (binary.Channel, KernelMessage.Text(binary.Header, "msg_id")));
        Assert.Equal([1, 2, 3], Assert.Single(binary.Buffers));

        var text = KernelWire.DecodeLegacy(Encoding.UTF8.GetBytes("""{"header":{"msg_id":"m2","msg_type":"kernel_info_request"},"content":{},"channel":"control"}"""), text: true)!;
        Assert.Equal(("control", "kernel_info_request"), (text.Channel, text.Type));
        Assert.Empty(text.ParentHeader);
    }

    [Fact]
    public void A_legacy_text_frame_carries_the_message_with_its_id_and_type_at_the_top_as_jupyter_server_does()
    {
        var frame = JsonNode.Parse(KernelWire.EncodeLegacy(Message with { Buffers = [] }))!.AsObject();

        Assert.Equal(("shell", "m1", "execute_request"), (frame["channel"]!.GetValue<string>(), frame["msg_id"]!.GetValue<string>(),
            frame["msg_type"]!.GetValue<string>()));
        Assert.Equal("print(1)", frame["content"]!["code"]!.GetValue<string>());
        Assert.Equal(KernelMessage.Text(Message.Header, "session"), frame["header"]!["session"]!.GetValue<string>());
    }

    [Fact]
    public void Base64_and_non_ascii_text_cross_unescaped()
    {
        var message = Message with { Content = new JsonObject { ["data"] = "iVBO+w/=", ["text"] = "héllo <b>" }, Buffers = [] };

        Assert.Contains("\"iVBO+w/=\"", KernelWire.EncodeLegacy(message), StringComparison.Ordinal);
        Assert.Contains("héllo <b>", Encoding.UTF8.GetString(KernelWire.EncodeV1(message)), StringComparison.Ordinal);
        Assert.Equal("héllo <b>", KernelWire.DecodeV1(KernelWire.EncodeV1(message))!.Content["text"]!.GetValue<string>());
    }

    [Theory]
    [InlineData("")]
    [InlineData("AAAAAAAAAAA=")] // a count of 0
    [InlineData("BwAAAAAAAAD/AAAAAAAAAA==")] // 7 offsets announced, none there
    [InlineData("bm90IGEgZnJhbWUgYXQgYWxs")] // text
    public void What_is_no_v1_frame_decodes_to_nothing(string base64) => Assert.Null(KernelWire.DecodeV1(Convert.FromBase64String(base64)));

    [Fact]
    public void Offsets_past_the_frame_or_going_backwards_decode_to_nothing()
    {
        var frame = Convert.FromBase64String(V1Golden);
        var past = (byte[])frame.Clone();
        past[8 * 7] = 0xFF; // the last offset, past the end
        past[8 * 7 + 1] = 0xFF;
        var backwards = (byte[])frame.Clone();
        backwards[8 * 3] = 0x41; // the header's end before its start

        Assert.Null(KernelWire.DecodeV1(past));
        Assert.Null(KernelWire.DecodeV1(backwards));
        Assert.Null(KernelWire.DecodeLegacy("not json"u8, text: true));
        Assert.Null(KernelWire.DecodeLegacy("""{"content":{}}"""u8, text: true)); // no header
    }

    [Fact]
    public void A_calls_results_displays_and_error_become_iopub_messages_and_its_streams_do_not()
    {
        var call = Call(SandboxStatus.Error,
            """{"output_type":"stream","name":"stdout","text":"hi\n"}""",
            """{"output_type":"execute_result","execution_count":3,"data":{"text/plain":"42"},"metadata":{}}""",
            """{"output_type":"display_data","data":{"image/png":"iVBORw0K","text/plain":"<Figure>"},"metadata":{}}""",
            """{"output_type":"error","ename":"ZeroDivisionError","evalue":"division by zero","traceback":["line 1","boom"]}""") with
        {
            Error = new CallError("ZeroDivisionError", "division by zero", ["line 1", "boom"]),
        };

        var messages = KernelReplies.Outputs(call, 3);
        var reply = KernelReplies.ExecuteReply(call, 3);

        Assert.Equal(["execute_result", "display_data", "error"], messages.Select(m => m.Type));
        Assert.Equal(3, messages[0].Content["execution_count"]!.GetValue<int>());
        Assert.Equal("iVBORw0K", messages[1].Content["data"]!["image/png"]!.GetValue<string>());
        Assert.Equal(("error", "ZeroDivisionError", 3), (reply["status"]!.GetValue<string>(), reply["ename"]!.GetValue<string>(),
            reply["execution_count"]!.GetValue<int>()));
        Assert.Equal(["line 1", "boom"], reply["traceback"]!.AsArray().Select(l => l!.GetValue<string>()));
    }

    [Theory]
    [InlineData(SandboxStatus.TimedOut, "TimeoutError")]
    [InlineData(SandboxStatus.MemoryExceeded, "MemoryError")]
    [InlineData(SandboxStatus.KernelDied, "DeadKernelError")]
    [InlineData(SandboxStatus.OutputLimitExceeded, "OutputLimitExceeded")]
    public void A_call_that_ended_badly_without_an_error_of_its_own_gets_one_that_says_why(string status, string name)
    {
        var call = Call(status);

        Assert.Equal(name, Assert.Single(KernelReplies.Outputs(call, 1)).Content["ename"]!.GetValue<string>());
        Assert.Equal(("error", name), (KernelReplies.ExecuteReply(call, 1)["status"]!.GetValue<string>(), KernelReplies.ExecuteReply(call, 1)["ename"]!.GetValue<string>()));
    }

    [Fact]
    public void An_ok_call_replies_ok_with_its_count()
    {
        var reply = KernelReplies.ExecuteReply(Call(SandboxStatus.Ok), 7);

        Assert.Equal(("ok", 7), (reply["status"]!.GetValue<string>(), reply["execution_count"]!.GetValue<int>()));
        Assert.Empty(KernelReplies.Outputs(Call(SandboxStatus.Ok), 7));
    }

    [Fact]
    public void Replies_have_the_request_as_parent_and_the_kernels_session()
    {
        var reply = KernelReplies.Reply(Message, "kernel-session", "shell", "execute_reply", [], DateTimeOffset.UnixEpoch);
        var status = KernelReplies.Status(Message, "kernel-session", "idle", DateTimeOffset.UnixEpoch);

        Assert.Equal("m1", KernelMessage.Text(reply.ParentHeader, "msg_id"));
        Assert.Equal(("kernel-session", "5.3", "1970-01-01T00:00:00.000000Z"), (KernelMessage.Text(reply.Header, "session"),
            KernelMessage.Text(reply.Header, "version"), KernelMessage.Text(reply.Header, "date")));
        Assert.Equal(("iopub", "status", "idle"), (status.Channel, status.Type, status.Content["execution_state"]!.GetValue<string>()));
    }

    [Fact]
    public void Requests_answered_without_a_call_get_their_replies()
    {
        KernelMessage Request(string type, JsonObject content) => Message with { Header = new JsonObject { ["msg_type"] = type }, Content = content };

        var complete = KernelReplies.Canned(Request("complete_request", new JsonObject { ["code"] = "pri", ["cursor_pos"] = 3 }))!.Value;
        Assert.Equal(("complete_reply", 3, 3), (complete.Type, complete.Content["cursor_start"]!.GetValue<int>(), complete.Content["cursor_end"]!.GetValue<int>()));
        Assert.Equal("comm_info_reply", KernelReplies.Canned(Request("comm_info_request", []))!.Value.Type);
        Assert.Equal("unknown", KernelReplies.Canned(Request("is_complete_request", []))!.Value.Content["status"]!.GetValue<string>());
        Assert.Equal(("inspect_reply", false), (KernelReplies.Canned(Request("inspect_request", []))!.Value.Type,
            KernelReplies.Canned(Request("inspect_request", []))!.Value.Content["found"]!.GetValue<bool>()));
        Assert.Equal("history_reply", KernelReplies.Canned(Request("history_request", []))!.Value.Type);
        Assert.Null(KernelReplies.Canned(Request("comm_open", [])));
    }

    [Fact]
    public void A_sandbox_id_is_a_kernel_id_in_uuid_form_and_back()
    {
        Assert.Equal("9c1e0000-1111-2222-3333-444455556666", JupyterKernels.KernelId("sbx_9c1e0000111122223333444455556666"));
        Assert.Equal("sbx_9c1e0000111122223333444455556666", JupyterKernels.SandboxId("9c1e0000-1111-2222-3333-444455556666"));
        Assert.Equal("other", JupyterKernels.KernelId("other"));
        Assert.Equal("sbx_nothex", JupyterKernels.SandboxId("sbx_nothex"));
    }

    [Fact]
    public void Jupyters_state_is_its_own_member_of_the_attributes_and_leaves_the_others_alone()
    {
        var attributes = JupyterKernels.WithState("""{"e2b":{"metadata":{"a":"b"}}}""", new JsonObject { ["execution_count"] = 4 });

        var parsed = JsonNode.Parse(attributes)!;
        Assert.Equal("b", parsed["e2b"]!["metadata"]!["a"]!.GetValue<string>());
        Assert.Equal(4, parsed["jupyter"]!["execution_count"]!.GetValue<int>());
        Assert.Equal("2026-12-03T15:04:05.123456Z", JupyterKernels.Timestamp(new DateTimeOffset(2026, 12, 3, 16, 4, 5, TimeSpan.FromHours(1)).AddTicks(1234560)));
    }

    private static CallView Call(string status, params string[] outputs) =>
        new("c1", status, "", "", [], [.. outputs.Select(o => JsonDocument.Parse(o).RootElement.Clone())], null, 1, 1, false, null);
}
