using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Text;
using System.Text.Json.Nodes;
using KernelHarness.Grader.Scoring;

namespace KernelHarness.Grader.Outputs;

/// <summary>GitHub Actions (step summary, <c>::error</c> annotations) and GitHub Classroom's result format.</summary>
public static class GitHubOutputs
{
    /// <summary>GitHub shows at most 10 error annotations per step; more is noise.</summary>
    public const int MaxAnnotations = 10;

    public static void Write(GradeResult g, string report, TextWriter stdout)
    {
        var summary = Environment.GetEnvironmentVariable("GITHUB_STEP_SUMMARY");
        if (!string.IsNullOrEmpty(summary))
        {
            try
            {
                File.AppendAllText(summary, report + "\n");
            }
            catch (IOException)
            {
            }
        }
        foreach (var line in Annotations(g, SourcePrefix(g)).Take(MaxAnnotations))
            stdout.WriteLine(line);
    }

    /// <summary>Annotations: forbidden uses and analyzer findings at file:line, then failed visible tests.</summary>
    public static IEnumerable<string> Annotations(GradeResult g, string prefix)
    {
        foreach (var v in g.Violations)
            yield return Annotation(v.File is null ? null : prefix + v.File, v.Line, "KH9001 forbidden API", v.ToString());
        foreach (var f in g.Findings)
            yield return Annotation(f.Finding.File is null ? null : prefix + f.Finding.File, f.Finding.Line, f.Finding.RuleId, f.Finding.Message);
        if (g.Status is GradeStatus.BuildFailed or GradeStatus.Fault)
            yield return Annotation(null, 0, g.Status.ToString(), g.Reason ?? "");
        foreach (var t in g.Tests.Where(t => !t.Passed))
            yield return OutputWriter.Detailed(t)
                ? Annotation(null, 0, "Failed: " + t.Id, t.Outcome.Message + " — reproduce: " + t.ReplayCommand)
                : Annotation(null, 0, "Failed: hidden test", "A hidden test of group " + t.Group + " failed.");
    }

    private static string SourcePrefix(GradeResult g)
    {
        // Annotations need repository-relative paths: the submission folder relative to the workspace.
        var workspace = Environment.GetEnvironmentVariable("GITHUB_WORKSPACE");
        var submission = Environment.GetEnvironmentVariable("KH_SUBMISSION_DIR");
        if (string.IsNullOrEmpty(workspace) || string.IsNullOrEmpty(submission))
            return "";
        var rel = Path.GetRelativePath(workspace, submission).Replace('\\', '/');
        return rel == "." || rel.StartsWith("..", StringComparison.Ordinal) ? "" : rel.TrimEnd('/') + "/";
    }

    public static string Annotation(string? file, int line, string title, string message)
    {
        var props = new List<string>();
        if (file is not null)
        {
            props.Add("file=" + Property(file));
            if (line > 0)
                props.Add("line=" + line);
        }
        props.Add("title=" + Property(title));
        return "::error " + string.Join(",", props) + "::" + Data(message);
    }

    private static string Data(string s) => s.Replace("%", "%25", StringComparison.Ordinal).Replace("\r", "%0D", StringComparison.Ordinal).Replace("\n", "%0A", StringComparison.Ordinal);

    private static string Property(string s) => Data(s).Replace(":", "%3A", StringComparison.Ordinal).Replace(",", "%2C", StringComparison.Ordinal);

    /// <summary>GitHub Classroom's autograding result (version 1): classroom.json, and <c>result=</c> (base64) in $GITHUB_OUTPUT when set.</summary>
    public static void WriteClassroom(GradeResult g, string outDir)
    {
        var tests = new JsonArray();
        foreach (var t in g.Tests)
        {
            tests.Add(new JsonObject
            {
                ["name"] = t.Id,
                ["status"] = t.Passed ? "pass" : "fail",
                ["score"] = t.Score,
                ["max_score"] = t.MaxScore,
                ["message"] = OutputWriter.Detailed(t) ? t.Outcome.Message : (t.Passed ? "" : "hidden test failed"),
                ["test_code"] = t.ReplayCommand,
                ["filename"] = "",
                ["line_no"] = 0,
                ["duration"] = 0,
            });
        }
        if (g.Status != GradeStatus.Graded)
        {
            tests.Add(new JsonObject
            {
                ["name"] = g.Status.ToString(), ["status"] = "error", ["score"] = 0, ["max_score"] = g.MaxScore,
                ["message"] = g.Status == GradeStatus.Refused ? string.Join("\n", g.Violations.Select(v => v.ToString())) : g.Reason ?? "",
                ["test_code"] = "", ["filename"] = "", ["line_no"] = 0, ["duration"] = 0,
            });
        }
        var result = new JsonObject
        {
            ["version"] = 1,
            ["status"] = g.Status != GradeStatus.Graded ? "error" : g.Score >= g.MaxScore ? "pass" : "fail",
            ["max_score"] = g.MaxScore,
            ["score"] = g.Score,
            ["tests"] = tests,
        };
        var json = result.ToJsonString(OutputWriter.Pretty);
        File.WriteAllText(Path.Combine(outDir, "classroom.json"), json + "\n");
        var ghOutput = Environment.GetEnvironmentVariable("GITHUB_OUTPUT");
        if (!string.IsNullOrEmpty(ghOutput))
        {
            try
            {
                File.AppendAllText(ghOutput, "result=" + Convert.ToBase64String(Encoding.UTF8.GetBytes(result.ToJsonString())) + "\n");
            }
            catch (IOException)
            {
            }
        }
    }
}
