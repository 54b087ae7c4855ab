using System.Text;
using System.Text.Json;
using Executor.Contracts;
using Executor.Runner.Runs;
using Executor.Runner.Sandboxes;
using Microsoft.Extensions.Logging.Abstractions;

namespace Executor.UnitTests.Sandboxes;

/// <summary>One sandbox against a fake kernel-mode launcher: the order of its calls, its file operations, cancels, its end.</summary>
public sealed class LiveSandboxTests : IDisposable
{
    private readonly FakeSessionService _session = new();

    public void Dispose() => _session.Dispose();

    private LiveSandbox Sandbox(FakeKernel kernel, TimeSpan? killGrace = null) => new("sbx-1", new AcquiredContainer("c1", Warm: false, kernel.Stream),
        new SandboxCallSettings(new KernelFileBounds(1024, 4096, 10), 1 << 20, 128, TimeSpan.FromSeconds(5), TimeSpan.FromSeconds(5),
            killGrace ?? TimeSpan.FromSeconds(3), _session.Client, "host-1"),
        TimeProvider.System, NullLogger.Instance);

    private static RunJob Command(string id, string kind, string? code = null, string? path = null, RunFile? file = null, int timeout = 30,
        bool interactive = false) =>
        new(id, file is null ? [] : [file], "", [], null, timeout, null, Interactive: interactive, Sandbox: new SandboxCommand("sbx-1", kind, code, path));

    private static JsonElement Json(byte[] payload) => JsonDocument.Parse(payload).RootElement;

    [Fact]
    public async Task The_kernel_job_names_the_mode_and_the_file_bounds_and_the_sandbox_waits_for_its_kernel()
    {
        var kernel = new FakeKernel();
        await using var sandbox = Sandbox(kernel);

        Assert.Null(await sandbox.StartAsync(TimeSpan.FromSeconds(5), CancellationToken.None));

        Assert.Equal("""{"mode":"kernel","files":{"max_file_bytes":1024,"max_total_bytes":4096,"max_count":10}}""", await kernel.Header.Task);
        Assert.True(sandbox.Accepted);
    }

    [Fact]
    public async Task A_kernel_that_never_gets_ready_is_a_sandbox_that_did_not_start()
    {
        var kernel = new FakeKernel(start: false);
        await using var sandbox = Sandbox(kernel);

        var problem = await sandbox.StartAsync(TimeSpan.FromMilliseconds(300), CancellationToken.None);

        Assert.Contains("not ready", problem);
        Assert.True(sandbox.Ended.IsCompleted);
    }

    [Fact]
    public async Task Calls_run_one_at_a_time_in_order_while_a_file_operation_goes_at_once()
    {
        var kernel = new FakeKernel();
        await using var sandbox = Sandbox(kernel);
        await sandbox.StartAsync(TimeSpan.FromSeconds(5), CancellationToken.None);

        var first = sandbox.Enqueue(Command("c1", SandboxCommandKinds.Run, "x = 1"), 30);
        var second = sandbox.Enqueue(Command("c2", SandboxCommandKinds.Run, "x + 1"), 30);
        var call = await kernel.NextAsync();
        Assert.Equal(LauncherFrames.Call, call.Kind);
        Assert.Equal("c1", Json(call.Payload).GetProperty("id").GetString());
        Assert.Equal(30_000, Json(call.Payload).GetProperty("timeout_ms").GetInt64());

        // While c1 runs: a file operation is sent at once, and answered by its id; c2 waits.
        var put = sandbox.FileAsync(Command("f1", SandboxCommandKinds.PutFile, path: "data/a.txt", file: new RunFile("data/a.txt", "hello"u8.ToArray())),
            CancellationToken.None);
        var operation = await kernel.NextAsync();
        Assert.Equal(LauncherFrames.FileOperation, operation.Kind);
        Assert.Equal("""{"id":"f1","op":"put","path":"data/a.txt"}""" + "\nhello", Encoding.UTF8.GetString(operation.Payload));
        kernel.Send(LauncherFrames.FileAnswer, """{"id": "f1", "ok": true, "error": null, "size": 5, "entries": null}""" + "\n");
        var stored = await put;
        Assert.Equal(RunStatus.Completed, stored.Status);
        Assert.Equal(5, stored.Sandbox!.Size);
        Assert.False(second.IsCompleted);

        kernel.Send(LauncherFrames.Stdout, "hi\n");
        kernel.Send(LauncherFrames.CallRecord, FakeKernel.Record("c1", "ok"));
        var one = await first;
        Assert.Equal(RunStatus.Completed, one.Status);
        Assert.Equal("hi\n", one.Stdout);
        Assert.Equal(SandboxStatus.Ok, one.Sandbox!.Status);
        Assert.Equal(1, one.Sandbox.ExecutionCount);

        var next = await kernel.NextAsync();
        Assert.Equal("c2", Json(next.Payload).GetProperty("id").GetString());
        kernel.Send(LauncherFrames.Message, """{"output_type": "execute_result", "execution_count": 2, "data": {"text/plain": "2"}, "metadata": {}}""");
        kernel.Send(LauncherFrames.CallRecord, FakeKernel.Record("c2", "ok", count: 2));
        var two = await second;
        Assert.Equal("2", two.Sandbox!.Outputs!.Single().GetProperty("data").GetProperty("text/plain").GetString());
    }

    [Fact]
    public async Task A_got_file_comes_back_with_its_digest_and_a_failed_operation_names_the_launchers_error()
    {
        var kernel = new FakeKernel
        {
            Respond = (kind, payload) =>
            {
                var line = Encoding.UTF8.GetString(payload).Split('\n')[0];
                var id = JsonDocument.Parse(line).RootElement.GetProperty("id").GetString();
                return id == "g1"
                    ? [(LauncherFrames.FileAnswer, Encoding.UTF8.GetBytes($$"""{"id": "{{id}}", "ok": true, "error": null, "size": 3, "entries": null}""" + "\nabc"))]
                    : [(LauncherFrames.FileAnswer, Encoding.UTF8.GetBytes($$"""{"id": "{{id}}", "ok": false, "error": "not_found", "size": null, "entries": null}""" + "\n"))];
            },
        };
        await using var sandbox = Sandbox(kernel);
        await sandbox.StartAsync(TimeSpan.FromSeconds(5), CancellationToken.None);

        var got = await sandbox.FileAsync(Command("g1", SandboxCommandKinds.GetFile, path: "a.csv"), CancellationToken.None);
        var missing = await sandbox.FileAsync(Command("g2", SandboxCommandKinds.DeleteFile, path: "nope"), CancellationToken.None);

        var file = Assert.Single(got.Files!);
        Assert.Equal("abc", Encoding.UTF8.GetString(file.Content!));
        Assert.Equal("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", file.Sha256);
        Assert.Equal("text/csv", file.ContentType);
        Assert.Equal(RunStatus.Failed, missing.Status);
        Assert.Equal(SandboxStatus.NotFound, missing.Sandbox!.Status);
    }

    [Fact]
    public async Task Cancel_interrupts_the_running_call_and_answers_a_waiting_one_without_running_it()
    {
        var kernel = new FakeKernel();
        await using var sandbox = Sandbox(kernel);
        await sandbox.StartAsync(TimeSpan.FromSeconds(5), CancellationToken.None);
        var running = sandbox.Enqueue(Command("c1", SandboxCommandKinds.Run, "while True: pass"), 30);
        var waiting = sandbox.Enqueue(Command("c2", SandboxCommandKinds.Run, "x"), 30);
        await kernel.NextAsync(); // c1 sent

        Assert.True(sandbox.Cancel("c2"));
        var skipped = await waiting;
        Assert.Equal(RunStatus.Cancelled, skipped.Status);

        Assert.True(sandbox.Cancel("c1"));
        Assert.Equal(LauncherFrames.Interrupt, (await kernel.NextAsync()).Kind);
        // An interrupt that reached the launcher before the call started is lost there: it comes again while the call runs.
        Assert.Equal(LauncherFrames.Interrupt, (await kernel.NextAsync()).Kind);
        kernel.Send(LauncherFrames.CallRecord, FakeKernel.Record("c1", "interrupted"));
        var interrupted = await running;
        Assert.Equal(RunStatus.Cancelled, interrupted.Status);
        Assert.Equal(SandboxStatus.Interrupted, interrupted.Sandbox!.Status);

        // c2 never reached the kernel: the next request is the next call's.
        var after = sandbox.Enqueue(Command("c3", SandboxCommandKinds.Run, "x"), 30);
        var next = await kernel.NextAsync();
        while (next.Kind == LauncherFrames.Interrupt)
        {
            next = await kernel.NextAsync(); // sent before c1's record was read: the launcher ignores it, no call running
        }
        Assert.Equal("c3", Json(next.Payload).GetProperty("id").GetString());
        kernel.Send(LauncherFrames.CallRecord, FakeKernel.Record("c3", "ok"));
        Assert.Equal(RunStatus.Completed, (await after).Status);
    }

    [Fact]
    public async Task A_restart_waits_its_turn_and_ends_with_the_launchers_restarted_record()
    {
        var kernel = new FakeKernel();
        await using var sandbox = Sandbox(kernel);
        await sandbox.StartAsync(TimeSpan.FromSeconds(5), CancellationToken.None);

        var restart = sandbox.Enqueue(Command("r1", SandboxCommandKinds.Restart), 30);
        var request = await kernel.NextAsync();
        Assert.Equal((LauncherFrames.Restart, """{"id":"r1"}"""), (request.Kind, Encoding.UTF8.GetString(request.Payload)));
        kernel.Send(LauncherFrames.CallRecord, FakeKernel.Record("r1", "restarted", count: 0, restarted: true));

        var result = await restart;
        Assert.Equal(RunStatus.Completed, result.Status);
        Assert.Equal(SandboxStatus.Restarted, result.Sandbox!.Status);
        Assert.True(result.Sandbox.KernelRestarted);
    }

    [Fact]
    public async Task An_interactive_call_gets_its_input_as_input_frames_on_the_same_stream()
    {
        var kernel = new FakeKernel();
        await using var sandbox = Sandbox(kernel);
        await sandbox.StartAsync(TimeSpan.FromSeconds(5), CancellationToken.None);

        var call = sandbox.Enqueue(Command("c1", SandboxCommandKinds.Run, "input()", interactive: true), 30);

        Assert.True(Json((await kernel.NextAsync()).Payload).GetProperty("interactive").GetBoolean());
        var input = await kernel.NextAsync();
        Assert.Equal((LauncherFrames.Input, "42\n"), (input.Kind, Encoding.UTF8.GetString(input.Payload)));
        Assert.Equal(LauncherFrames.InputEnd, (await kernel.NextAsync()).Kind);
        kernel.Send(LauncherFrames.CallRecord, FakeKernel.Record("c1", "ok"));
        Assert.Equal(RunStatus.Completed, (await call).Status);
        Assert.False(sandbox.Ended.IsCompleted); // the end of a call's input is not the end of the kernel's stdin
    }

    [Theory]
    [InlineData("unknown kind")]
    [InlineData("died")]
    public async Task A_broken_protocol_or_a_dead_container_ends_the_sandbox_and_answers_what_waits_as_gone(string how)
    {
        var kernel = new FakeKernel();
        await using var sandbox = Sandbox(kernel);
        await sandbox.StartAsync(TimeSpan.FromSeconds(5), CancellationToken.None);
        var running = sandbox.Enqueue(Command("c1", SandboxCommandKinds.Run, "x"), 30);
        var waiting = sandbox.Enqueue(Command("c2", SandboxCommandKinds.Run, "x"), 30);
        await kernel.NextAsync();

        if (how == "died")
        {
            kernel.Die();
        }
        else
        {
            kernel.Send((byte)'x', "{}"); // a run's exit record: no kernel sends one
        }

        var reason = await sandbox.Ended.WaitAsync(TimeSpan.FromSeconds(5));
        Assert.Contains(how == "died" ? "container ended" : "kernel protocol", reason);
        Assert.Equal(RunStatus.InternalError, (await running).Status);
        var gone = await waiting;
        Assert.Equal(SandboxStatus.SandboxGone, gone.Sandbox!.Status);
        Assert.Equal(SandboxStatus.SandboxGone, (await sandbox.Enqueue(Command("c3", SandboxCommandKinds.Run, "x"), 30)).Sandbox!.Status);
    }

    [Fact]
    public async Task A_call_past_its_outside_deadline_breaks_the_sandbox()
    {
        var kernel = new FakeKernel();
        await using var sandbox = Sandbox(kernel, killGrace: TimeSpan.Zero);
        await sandbox.StartAsync(TimeSpan.FromSeconds(5), CancellationToken.None);

        var result = await sandbox.Enqueue(Command("c1", SandboxCommandKinds.Run, "x", timeout: 1), 1).WaitAsync(TimeSpan.FromSeconds(10));

        Assert.Equal(RunStatus.InternalError, result.Status);
        Assert.Contains("did not end within 3 s", await sandbox.Ended);
    }
}
