using System.Net.WebSockets;

namespace Executor.EndToEndTests;

/// <summary>stdin_mode=interactive: a script's input() answered over GET /result/{id}/attach, through the gateway.</summary>
[Collection(StackCollection.Name)]
public sealed class InteractiveTests(StackFixture stack)
{
    private static readonly (string, string) Interactive = ("stdin_mode", "interactive");

    [Fact]
    public async Task An_input_round_trip_over_the_WebSocket_then_end_of_file()
    {
        var sessionId = await stack.Gateway.SubmitAsync("""
            name = input("name? ")
            print(f"hello {name}")
            try:
                input()
            except EOFError:
                print("eof")
            """, Interactive);
        await using var attach = await Attachment.ConnectAsync(stack.Gateway, sessionId);

        await attach.ReceiveUntilAsync(m => attach.Stdout.Contains("name? ", StringComparison.Ordinal));
        await attach.SendAsync("alice\n");
        await attach.ReceiveUntilAsync(m => attach.Stdout.Contains("hello alice\n", StringComparison.Ordinal));
        await attach.SendAsync("\u0004"); // Ctrl-D: end of input, and the socket stays for the rest
        var result = await attach.ResultAsync();

        Assert.Equal("completed", result.GetProperty("status").GetString());
        Assert.Equal("name? hello alice\neof\n", result.GetProperty("logs").GetString());
        Assert.Equal("name? hello alice\neof\n", attach.Stdout);
        Assert.Null(await attach.ReceiveAsync()); // then the server closes
        Assert.Equal(WebSocketCloseStatus.NormalClosure, attach.CloseStatus);
    }

    [Fact]
    public async Task Closing_the_socket_is_end_of_file_and_binary_messages_are_bytes()
    {
        var sessionId = await stack.Gateway.SubmitAsync(
            "import sys\ndata = sys.stdin.buffer.read()\nprint(len(data), data)\n", Interactive);
        await using (var attach = await Attachment.ConnectAsync(stack.Gateway, sessionId))
        {
            await attach.SendAsync("abc");
            await attach.SendBytesAsync([0xff, 0x00, (byte)'\n']);
            await attach.CloseAsync();
        }

        var result = await stack.Gateway.WaitForResultAsync(sessionId);

        Assert.Equal("6 b'abc\\xff\\x00\\n'\n", result.GetProperty("logs").GetString());
    }

    [Fact]
    public async Task Ten_thousand_one_byte_messages_reach_the_script_whole_and_in_order()
    {
        // A client that sends a byte per message: SessionService coalesces them (a store write per 20 ms at most, see
        // the store contract), and the script still reads every byte, in order.
        var sessionId = await stack.Gateway.SubmitAsync(
            "import sys, hashlib\ndata = sys.stdin.buffer.read()\nprint(len(data), hashlib.sha256(data).hexdigest())\n", Interactive);
        var sent = new byte[10_000];
        await using (var attach = await Attachment.ConnectAsync(stack.Gateway, sessionId))
        {
            for (var i = 0; i < sent.Length; i++)
            {
                sent[i] = (byte)('a' + (i % 26));
                await attach.SendBytesAsync([sent[i]]);
            }
            await attach.CloseAsync();
        }

        var result = await stack.Gateway.WaitForResultAsync(sessionId);

        Assert.Equal($"10000 {Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(sent))}\n", result.GetProperty("logs").GetString());
    }

    [Fact]
    public async Task A_script_waiting_for_input_still_obeys_its_timeout()
    {
        var sessionId = await stack.Gateway.SubmitAsync("print('waiting', flush=True)\ninput()\n", Interactive, ("timeout_seconds", "2"));
        await using var attach = await Attachment.ConnectAsync(stack.Gateway, sessionId);

        var result = await attach.ResultAsync();

        Assert.Equal("timed_out", result.GetProperty("status").GetString());
        Assert.Equal("waiting\n", result.GetProperty("logs").GetString());
    }

    [Fact]
    public async Task Without_an_attached_client_the_script_reads_end_of_file_after_the_grace_period()
    {
        // The stack's grace period is 3 s (Executor:StdinAttachGraceSeconds).
        var result = await stack.Gateway.RunAsync("""
            import time
            start = time.monotonic()
            try:
                input()
            except EOFError:
                print("eof after", round(time.monotonic() - start))
            """, Interactive, ("timeout_seconds", "20"));

        Assert.Equal("completed", result.GetProperty("status").GetString());
        var waited = int.Parse(result.GetProperty("logs").GetString()!.Split(' ')[^1]);
        Assert.InRange(waited, 2, 10);
    }

    [Fact]
    public async Task Input_over_the_limit_is_refused_and_ends_the_input()
    {
        var sessionId = await stack.Gateway.SubmitAsync("import sys\nprint(len(sys.stdin.read()))\n", Interactive, ("timeout_seconds", "20"));
        await using var attach = await Attachment.ConnectAsync(stack.Gateway, sessionId);

        await attach.SendAsync("ok\n");
        await attach.SendAsync(new string('x', 1024 * 1024 + 1)); // Sessions:MaxStdinBytes is 1 MiB
        var refused = await attach.ReceiveUntilAsync(m => Attachment.Type(m) == "error");
        var result = await attach.ResultAsync();

        Assert.Equal("stdin-too-large", refused.GetProperty("error").GetString());
        Assert.Equal("3\n", result.GetProperty("logs").GetString()); // what came before the refused message, then end of file
    }

    [Fact]
    public async Task A_batch_session_streams_its_output_over_the_socket_and_refuses_input()
    {
        var sessionId = await stack.Gateway.SubmitAsync("import time\nprint('batch', flush=True)\ntime.sleep(1)\n");
        await using var attach = await Attachment.ConnectAsync(stack.Gateway, sessionId);

        await attach.SendAsync("ignored\n");
        var refused = await attach.ReceiveUntilAsync(m => Attachment.Type(m) == "error");
        var result = await attach.ResultAsync();

        Assert.Equal("stdin-closed", refused.GetProperty("error").GetString());
        Assert.Equal("batch\n", result.GetProperty("logs").GetString());
        Assert.Equal("batch\n", attach.Stdout);
    }
}
