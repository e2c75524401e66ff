using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using KernelHarness.Grader.Outputs;
using KernelHarness.Grader.Scoring;

namespace KernelHarness.Grader;

/// <summary><c>kh grade-all</c>: every submission of a folder (a shard of it), N at a time; then class.csv and class.html.</summary>
public static class GradeAll
{
    /// <summary>The submission folders of a shard (<paramref name="shard"/> is 1-based, of <paramref name="shards"/>), in name order.</summary>
    public static IReadOnlyList<string> Submissions(string dir, int shard = 1, int shards = 1) =>
        Directory.GetDirectories(dir)
            .Where(d => !Path.GetFileName(d).StartsWith('.'))
            .OrderBy(d => d, StringComparer.Ordinal)
            .Where((_, i) => i % shards == shard - 1)
            .ToList();

    public static (int Shard, int Count) ParseShard(string? text)
    {
        if (string.IsNullOrEmpty(text))
            return (1, 1);
        var parts = text.Split('/');
        if (parts.Length == 2 && int.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out var i)
            && int.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out var n) && n >= 1 && i >= 1 && i <= n)
            return (i, n);
        throw new FormatException($"--shard must be I/N with 1 <= I <= N (got '{text}').");
    }

    public static IReadOnlyList<GradeResult> Run(string submissionsDir, string assignment, string outDir, int jobs, int shard, int shards,
        Action<string, GradeResult?>? progress = null, string? submissionsDisplay = null, string? assignmentDisplay = null, double? testTimeoutSeconds = null)
    {
        var subs = Submissions(submissionsDir, shard, shards);
        var results = new GradeResult?[subs.Count];
        Parallel.For(0, subs.Count, new ParallelOptions { MaxDegreeOfParallelism = Math.Max(1, jobs) }, i =>
        {
            var name = Path.GetFileName(subs[i]);
            progress?.Invoke(name, null);
            results[i] = Grading.Grade(new GradeOptions
            {
                Submission = subs[i],
                AssignmentPath = assignment,
                OutDirectory = Path.Combine(outDir, name),
                SubmissionDisplay = submissionsDisplay is null ? null : submissionsDisplay.TrimEnd('/') + "/" + name,
                AssignmentDisplay = assignmentDisplay,
                GitHub = false,
                TestTimeoutSeconds = testTimeoutSeconds,
            });
            progress?.Invoke(name, results[i]);
        });
        var title = results.FirstOrDefault()?.Assignment.Title ?? "Class results";
        ClassReport.Write(ClassReport.Collect(new[] { outDir }), outDir, title + (shards > 1 ? $" (shard {shard}/{shards})" : ""));
        return results!;
    }

    /// <summary><c>kh merge</c>: the shards' per-student folders into one output, then class.csv and class.html over everyone.</summary>
    public static int Merge(IReadOnlyList<string> shardDirs, string outDir, string title)
    {
        Directory.CreateDirectory(outDir);
        foreach (var shard in shardDirs)
        {
            foreach (var student in Directory.GetDirectories(shard))
            {
                var target = Path.Combine(outDir, Path.GetFileName(student));
                if (Path.GetFullPath(target) == Path.GetFullPath(student))
                    continue;
                Directory.CreateDirectory(target);
                foreach (var f in Directory.GetFiles(student))
                    File.Copy(f, Path.Combine(target, Path.GetFileName(f)), overwrite: true);
            }
        }
        var rows = ClassReport.Collect(new[] { outDir });
        ClassReport.Write(rows, outDir, title);
        return rows.Count;
    }
}
