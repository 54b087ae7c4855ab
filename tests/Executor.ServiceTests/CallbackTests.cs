using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;

namespace Executor.ServiceTests;

/// <summary>
/// callback_url's rules: retries with backoff, one receiver never holding up another, errors that map no ports, the
/// address rules at submission. Receivers listen on 127.0.0.1 (allowed by Callbacks:AllowedHosts, as the end-to-end
/// stack allows it); nothing goes beyond loopback.
/// </summary>
public sealed class CallbackTests(CallbackServiceFixture service) : IClassFixture<CallbackServiceFixture>
{
    private static readonly TimeSpan Within = TimeSpan.FromSeconds(60);

    /// <summary>Callbacks:TimeoutSeconds, the default: how long one attempt may take.</summary>
    private const int AttemptTimeoutSeconds = 10;

    [Fact]
    public async Task A_receiver_that_fails_twice_gets_it_on_the_third_try_after_backing_off()
    {
        using var receiver = CallbackReceiver.Start(500, 503);
        var sessionId = await service.Client.SubmitAsync("print('third time lucky')\n", ("callback_url", receiver.Url));

        await receiver.WaitForAsync(d => d.AnsweredWith == 200, Within);

        var attempts = receiver.Deliveries.Where(d => d.Headers["X-Executor-Session"] == sessionId).ToList();
        Assert.Equal([500, 503, 200], attempts.Select(a => a.AnsweredWith));
        Assert.Equal(["1", "2", "3"], attempts.Select(a => a.Headers["X-Executor-Attempt"]));
        Assert.All(attempts, CallbackReceiver.AssertSigned);
        Assert.Single(attempts.Select(a => Convert.ToHexString(a.Body)).Distinct()); // the same result each time
        // Backoff: about 1 s, then about 2 s (Callbacks:FirstRetrySeconds = 1, doubling).
        Assert.True(attempts[1].At - attempts[0].At >= TimeSpan.FromSeconds(0.9), $"second attempt after {attempts[1].At - attempts[0].At}");
        Assert.True(attempts[2].At - attempts[1].At >= TimeSpan.FromSeconds(1.8), $"third attempt after {attempts[2].At - attempts[1].At}");
        var status = await service.Client.CallbackStatusAsync(sessionId, "delivered");
        Assert.Equal(3, status.GetProperty("attempts").GetInt32());
    }

    [Fact]
    public async Task A_receiver_that_never_answers_does_not_delay_another_sessions_callback()
    {
        using var hung = CallbackReceiver.StartHanging();
        using var healthy = CallbackReceiver.Start();
        var blocked = await service.Client.SubmitAsync("print('to a hung receiver')\n", ("callback_url", hung.Url));
        var held = await hung.WaitForAsync(d => d.Headers.GetValueOrDefault("X-Executor-Session") == blocked, Within);

        // While that attempt hangs (until its 10 s attempt timeout), another session's callback goes to its own receiver.
        var sessionId = await service.Client.SubmitAsync("print('to a healthy receiver')\n", ("callback_url", healthy.Url));
        var delivery = await healthy.WaitForAsync(d => d.Headers.GetValueOrDefault("X-Executor-Session") == sessionId, Within);

        Assert.True(delivery.At < held.At + TimeSpan.FromSeconds(AttemptTimeoutSeconds),
            $"delivered {delivery.At - held.At} after the hung receiver got its callback: it waited for that attempt to time out");
        Assert.Equal("pending", (await service.Client.GetFromJsonAsync<JsonElement>($"/result/{blocked}/callback")).GetProperty("state").GetString());
        hung.Release();
    }

    [Fact]
    public async Task The_stored_error_of_an_internal_receiver_says_nothing_of_its_ports()
    {
        // 127.0.0.1 is allowed (an internal receiver the operator trusts): a closed port there must not read differently
        // from an open one, or callers could map which internal ports answer.
        int closedPort;
        using (var probe = new System.Net.Sockets.TcpListener(IPAddress.Loopback, 0))
        {
            probe.Start();
            closedPort = ((IPEndPoint)probe.LocalEndpoint).Port;
        }
        var sessionId = await service.Client.SubmitAsync("print(1)\n", ("callback_url", $"http://127.0.0.1:{closedPort}/hook"));

        JsonElement status = default;
        await ExecutorApi.WaitUntilAsync(async () =>
        {
            status = await service.Client.GetFromJsonAsync<JsonElement>($"/result/{sessionId}/callback");
            return status.GetProperty("last_error").ValueKind == JsonValueKind.String;
        }, "a failed attempt");

        var error = status.GetProperty("last_error").GetString()!;
        Assert.StartsWith("not delivered", error, StringComparison.Ordinal);
        Assert.DoesNotContain(closedPort.ToString(CultureInfo.InvariantCulture), error, StringComparison.Ordinal);
        Assert.DoesNotContain("refused", error, StringComparison.OrdinalIgnoreCase);
    }

    [Theory]
    [InlineData("http://127.0.0.2:{0}/hook")] // loopback, but not the allowed 127.0.0.1
    [InlineData("http://[::1]:{0}/hook")]
    [InlineData("file:///etc/passwd")]
    public async Task A_callback_to_an_address_off_the_allow_list_is_refused_when_submitted(string template)
    {
        using var receiver = CallbackReceiver.Start();
        using var form = new MultipartFormDataContent();
        form.AddFile("main.py", "print('never runs')\n");
        form.Add(new StringContent(string.Format(CultureInfo.InvariantCulture, template, receiver.Port)), "callback_url");

        using var response = await service.Client.PostAsync("/execute", form);

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        var problem = await response.Content.ReadFromJsonAsync<JsonElement>();
        Assert.EndsWith("callback-refused", problem.GetProperty("type").GetString(), StringComparison.Ordinal);
        Assert.Contains("callback_url", problem.GetProperty("detail").GetString(), StringComparison.Ordinal);
        Assert.DoesNotContain("resolves to", problem.GetProperty("detail").GetString(), StringComparison.Ordinal);
        await Task.Delay(500);
        Assert.Empty(receiver.Deliveries);
    }

    [Fact]
    public async Task A_session_without_a_callback_says_so()
    {
        var sessionId = await service.Client.SubmitAsync("print(1)\n");

        using var response = await service.Client.GetAsync($"/result/{sessionId}/callback");

        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        Assert.EndsWith("no-callback", (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("type").GetString(), StringComparison.Ordinal);
    }
}
