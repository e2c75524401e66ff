using System.Collections.Generic;
using System.IO;

namespace KernelHarness.Testing;

/// <summary>
/// An example submission's <c>expected-failures.txt</c>: the tests its one bug must fail (the kill matrix of
/// conformance-notes.md §0.4). One line per test, <c>test id</c> or <c>test id :: text the failure must
/// mention</c>; blank lines and <c># comments</c> are skipped. Linked into every test project that reads one, so
/// the conformance suites, the grader and the student template agree on the format.
/// </summary>
internal static class ExpectedFailures
{
    public const string FileName = "expected-failures.txt";

    /// <summary>The expectations of the submission in <paramref name="submissionDirectory"/>: none when it has no file (a reference submission).</summary>
    public static List<(string Id, string? Text)> Read(string submissionDirectory)
    {
        var list = new List<(string, string?)>();
        var path = Path.Combine(submissionDirectory, FileName);
        if (!File.Exists(path))
            return list;
        foreach (var raw in File.ReadAllLines(path))
        {
            var line = raw.Trim();
            if (line.Length == 0 || line.StartsWith('#'))
                continue;
            var parts = line.Split("::", 2, System.StringSplitOptions.TrimEntries);
            list.Add((parts[0], parts.Length > 1 ? parts[1] : null));
        }
        return list;
    }
}
