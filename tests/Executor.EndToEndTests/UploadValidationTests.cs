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
        using var form = new MultipartFormDataContent();
        form.AddFile("huge.py", new byte[8 * 1024 * 1024]);
        using var request = new HttpRequestMessage(HttpMethod.Post, "/execute") { Content = form };
        request.Headers.ExpectContinue = true;
        using var response = await stack.Gateway.SendAsync(request);
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
    }
}
