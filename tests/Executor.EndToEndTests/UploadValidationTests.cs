using System.Net;

namespace Executor.EndToEndTests;

/// <summary>
/// The gateway's body limit, which only a real server enforces. The upload rules themselves are proven in process
/// (Executor.ServiceTests' UploadValidationTests).
/// </summary>
[Collection(StackCollection.Name)]
public sealed class UploadValidationTests(StackFixture stack)
{
    [Fact]
    public async Task A_body_far_over_the_limit_is_refused_with_a_413_problem()
    {
        // As a careful client sends a large upload: it asks first (Expect: 100-continue) and the gateway refuses at once.
        // It waits for that answer longer than HttpClient's 1 s default: a gateway busy elsewhere (this is the class's only
        // test, so the route may be cold) would otherwise see the body start and cut the connection (broken pipe).
        using var client = new HttpClient(new SocketsHttpHandler { Expect100ContinueTimeout = TimeSpan.FromSeconds(30) })
        {
            BaseAddress = stack.Gateway.BaseAddress,
        };
        using var form = new MultipartFormDataContent();
        form.AddFile("huge.py", new byte[8 * 1024 * 1024]);
        using var request = new HttpRequestMessage(HttpMethod.Post, "/execute") { Content = form };
        request.Headers.ExpectContinue = true;
        using var response = await client.SendAsync(request);
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
    }
}
