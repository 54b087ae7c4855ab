using System.Text.Json;

namespace Executor.EndToEndTests;

/// <summary>
/// callback_url: the result of a real run POSTed to a receiver on 127.0.0.1 (allowed by the stack's
/// Callbacks:AllowedHosts), signed. Retries, isolation between receivers and the address rules are proven in process
/// (Executor.ServiceTests' CallbackTests).
/// </summary>
[Collection(StackCollection.Name)]
public sealed class CallbackTests(StackFixture stack)
{
    private static readonly TimeSpan Within = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task The_result_reaches_a_loopback_receiver_signed()
    {
        using var receiver = CallbackReceiver.Start();
        var sessionId = await stack.Gateway.SubmitAsync("print('called back')\n", ("callback_url", receiver.Url));

        var delivery = await receiver.WaitForAsync(d => d.Headers.GetValueOrDefault("X-Executor-Session") == sessionId, Within);

        Assert.Equal(("POST", "/hooks/executor"), (delivery.Method, delivery.Path));
        Assert.Equal("application/json", delivery.Headers["Content-Type"]);
        CallbackReceiver.AssertSigned(delivery);
        var body = JsonDocument.Parse(delivery.Body).RootElement;
        Assert.Equal((sessionId, "completed", "called back\n"),
            (body.GetProperty("session_id").GetString(), body.GetProperty("status").GetString(), body.GetProperty("logs").GetString()));
        var status = await stack.Gateway.CallbackStatusAsync(sessionId, "delivered");
        Assert.Equal(1, status.GetProperty("attempts").GetInt32());
    }
}
