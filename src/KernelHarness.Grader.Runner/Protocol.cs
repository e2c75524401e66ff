using System;
using System.Collections.Generic;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace KernelHarness.Grader.Runner;

/// <summary>
/// The child's job, sent on stdin after the per-run secret: which tests to run, against what, and
/// the hidden-test assembly's bytes (loaded before any student code, never written where the child can read it).
/// </summary>
public sealed class RunnerJob
{
    public string StudentAssembly { get; set; } = "Submission";
    public string? HiddenAssemblyBase64 { get; set; }
    public List<RunnerTest> Tests { get; set; } = new();

    /// <summary>When set, the child plans the run itself (every test of these subsystems and groups, in catalog order), sends the plan, then runs it.</summary>
    public RunnerPlanRequest? Plan { get; set; }
}

/// <summary>What to run: the tests of the assignment's subsystems in its groups; performance groups also run against the reference.</summary>
public sealed class RunnerPlanRequest
{
    public List<string> Subsystems { get; set; } = new();
    public List<string> Groups { get; set; } = new();
    public List<string> ReferenceGroups { get; set; } = new();
}

/// <summary>One test of a job: run against the student's implementation, or the reference (performance baselines).</summary>
public sealed class RunnerTest
{
    public int Index { get; set; }
    public string Id { get; set; } = "";
    public ulong? Seed { get; set; }
    public bool Reference { get; set; }
    public string Subsystem { get; set; } = "";
    public string Group { get; set; } = "";
    public string Name { get; set; } = "";
    public string Linux { get; set; } = "";
    public string? Description { get; set; }
    public int TimeoutMs { get; set; }
}

/// <summary>A record the child sends: hello, start (of test Index), result, fatal, done.</summary>
public sealed class RunnerRecord
{
    public string Type { get; set; } = "";
    public int Index { get; set; } = -1;
    public string? Message { get; set; }
    public OutcomeDto? Outcome { get; set; }
    public List<string>? Implementations { get; set; }
    public List<RunnerTest>? Plan { get; set; }
}

/// <summary>The serializable form of <see cref="KernelHarness.Conformance.TestOutcome"/>.</summary>
public sealed class OutcomeDto
{
    public string Id { get; set; } = "";
    public string Subsystem { get; set; } = "";
    public string Group { get; set; } = "";
    public string Name { get; set; } = "";
    public string Linux { get; set; } = "";
    public ulong Seed { get; set; }
    public string Status { get; set; } = "";
    public string Message { get; set; } = "";
    public string? Expected { get; set; }
    public string? Actual { get; set; }
    public List<string> Reports { get; set; } = new();
    public List<string> KernelLog { get; set; } = new();
    public List<string> Steps { get; set; } = new();
    public SortedDictionary<string, double> Metrics { get; set; } = new(StringComparer.Ordinal);
    public double DurationMs { get; set; }
}

/// <summary>
/// The result channel: every record is a line <c>@@KH@@ SEQ BASE64(JSON) HMAC</c> on the child's
/// original stdout, the HMAC-SHA256 keyed with a secret the parent generated for this child and
/// sent on stdin before student code was loaded. Anything else on the stream is ignored; a record
/// with a bad MAC or an out-of-order sequence number is a forgery.
/// </summary>
public static class Channel
{
    public const string Prefix = "@@KH@@ ";

    public static readonly JsonSerializerOptions Json = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    };

    public static string Encode(byte[] key, long seq, RunnerRecord record)
    {
        var payload = Convert.ToBase64String(JsonSerializer.SerializeToUtf8Bytes(record, Json));
        var body = seq.ToString(CultureInfo.InvariantCulture) + " " + payload;
        return Prefix + body + " " + Mac(key, body);
    }

    /// <summary>Decodes a line; null when it is not a record, throws <see cref="FormatException"/> when it is a forged one.</summary>
    public static RunnerRecord? Decode(byte[] key, long expectedSeq, string line)
    {
        if (!line.StartsWith(Prefix, StringComparison.Ordinal))
            return null;
        var rest = line.AsSpan(Prefix.Length);
        int lastSpace = rest.LastIndexOf(' ');
        if (lastSpace < 0)
            throw new FormatException("malformed record");
        var body = rest[..lastSpace].ToString();
        var mac = rest[(lastSpace + 1)..].ToString();
        if (!CryptographicOperations.FixedTimeEquals(Encoding.ASCII.GetBytes(Mac(key, body)), Encoding.ASCII.GetBytes(mac)))
            throw new FormatException("record with a bad MAC");
        int space = body.IndexOf(' ', StringComparison.Ordinal);
        if (space < 0 || !long.TryParse(body.AsSpan(0, space), NumberStyles.None, CultureInfo.InvariantCulture, out var seq) || seq != expectedSeq)
            throw new FormatException("record out of sequence");
        return JsonSerializer.Deserialize<RunnerRecord>(Convert.FromBase64String(body[(space + 1)..]), Json)
            ?? throw new FormatException("empty record");
    }

    private static string Mac(byte[] key, string body) => Convert.ToHexString(HMACSHA256.HashData(key, Encoding.UTF8.GetBytes(body)));
}
