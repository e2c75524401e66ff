using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Reflection;
using KernelHarness.Annotations;
using KernelHarness.Conformance;
using Xunit;
using Xunit.Abstractions;

namespace KernelHarness.Conformance.Tests;

/// <summary>
/// The kill matrix (conformance-notes.md §0.4): every example submission is run through the suites of
/// the subsystems it implements. The reference ones must pass everything; every buggy one must fail the
/// tests its expected-failures.txt names, with a message that points at the bug, and no other.
/// </summary>
public sealed class KillMatrixTests
{
    private readonly ITestOutputHelper output;

    public KillMatrixTests(ITestOutputHelper output) => this.output = output;

    public static IEnumerable<object[]> Submissions()
    {
        var root = Path.Combine(RepoRoot(), "examples", "assignments");
        if (!Directory.Exists(root))
            yield break;
        foreach (var assignment in Directory.GetDirectories(root).OrderBy(d => d, StringComparer.Ordinal))
        {
            var submissions = Path.Combine(assignment, "submissions");
            if (!Directory.Exists(submissions))
                continue;
            foreach (var submission in Directory.GetDirectories(submissions).OrderBy(d => d, StringComparer.Ordinal))
            {
                if (Directory.GetFiles(submission, "*.cs", SearchOption.AllDirectories).Length > 0)
                    yield return new object[] { Path.GetFileName(assignment), Path.GetFileName(submission) };
            }
        }
    }

    [Theory]
    [MemberData(nameof(Submissions))]
    public void Submission_fails_exactly_where_expected(string assignment, string submission)
    {
        var dir = Path.Combine(RepoRoot(), "examples", "assignments", assignment, "submissions", submission);
        var ns = $"Student.{Pascal(assignment)}.{Pascal(submission)}";
        var implementations = Implementations(ns).ToList();
        Assert.True(implementations.Count > 0, $"No class in namespace {ns} implements an assignable subsystem interface.");

        var outcomes = new List<TestOutcome>();
        foreach (var (type, subsystem) in implementations)
        {
            foreach (var test in ConformanceCatalog.For(subsystem))
                outcomes.Add(ConformanceRunner.Run(test, () => Activator.CreateInstance(type)!));
        }
        var failed = outcomes.Where(o => !o.Passed).ToList();
        foreach (var f in failed)
            output.WriteLine(f.Render());

        var expectations = KernelHarness.Testing.ExpectedFailures.Read(dir);
        if (expectations.Count == 0)
        {
            Assert.True(failed.Count == 0, $"{submission} should pass every test but failed {failed.Count}:\n" + string.Join("\n", failed.Select(f => f.Render())));
            return;
        }
        Assert.NotEmpty(failed);
        foreach (var (id, text) in expectations)
        {
            var match = failed.FirstOrDefault(f => Names(f, id));
            Assert.True(match is not null, $"{submission}: expected {id} to fail, but it passed (or does not exist). Failed: {string.Join(", ", failed.Select(f => f.Id))}");
            if (text is not null)
                Assert.True(match!.Render().Contains(text, StringComparison.Ordinal), $"{submission}: the failure of {id} should mention \"{text}\":\n{match.Render()}");
        }
        // Exactly: a test that fails and is not listed is a kill the matrix does not record (or a test broken by
        // something other than the submission's one bug).
        var unlisted = failed.Where(f => !expectations.Any(e => Names(f, e.Id))).Select(f => f.Id).ToList();
        Assert.True(unlisted.Count == 0, $"{submission}: failed tests its expected-failures.txt does not list:\n" + string.Join("\n", unlisted));
    }

    /// <summary>Does an expected-failures.txt line name this outcome's test (its full id, or the end of it)?</summary>
    private static bool Names(TestOutcome outcome, string id) => outcome.Id == id || outcome.Id.EndsWith("/" + id, StringComparison.Ordinal);

    private static IEnumerable<(Type Type, string Subsystem)> Implementations(string ns)
    {
        foreach (var type in typeof(KillMatrixTests).Assembly.GetTypes())
        {
            if (type.Namespace != ns || type.IsAbstract || !type.IsClass)
                continue;
            foreach (var iface in type.GetInterfaces())
            {
                var subsystem = iface.GetCustomAttribute<KernelSubsystemAttribute>();
                if (subsystem is not null && subsystem.Assignable)
                    yield return (type, subsystem.Name);
                // The "driver" assignment: the subject is the student's driver class, not a kernel subsystem.
                if (iface == typeof(KernelHarness.Conformance.Driver.IDriverAssignment))
                    yield return (type, "driver");
            }
        }
    }

    internal static string Pascal(string folder) =>
        string.Concat(folder.Split('-', '_', ' ').Where(p => p.Length > 0).Select(p => char.ToUpperInvariant(p[0]) + p[1..]));

    internal static string RepoRoot()
    {
        var dir = AppContext.BaseDirectory;
        while (dir is not null && !File.Exists(Path.Combine(dir, "Harness.sln")))
            dir = Path.GetDirectoryName(dir);
        return dir ?? throw new InvalidOperationException("Harness.sln not found above " + AppContext.BaseDirectory);
    }
}
