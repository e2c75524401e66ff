using System;
using System.IO;
using System.Linq;
using KernelHarness.Grader.Assignments;
using KernelHarness.Grader.IlCheck;
using Xunit;

namespace KernelHarness.Grader.Tests;

public sealed class AssignmentFileTests
{
    [Fact]
    public void Every_example_assignment_loads()
    {
        foreach (var dir in Directory.GetDirectories(Path.Combine(Repo.Root, "examples", "assignments")))
        {
            if (!File.Exists(Path.Combine(dir, "assignment.yaml")))
                continue;
            var a = AssignmentLoader.Load(dir);
            Assert.NotEmpty(a.Groups);
            Assert.NotEmpty(a.Subsystems);
        }
    }

    [Theory]
    [InlineData("id: x\ntitle: t\nsubsystems: [slab]\ngroups:\n  - { name: directed, points: -4 }\n", 5, "'points' must be at least 0")]
    [InlineData("id: x\ntitle: t\nsubsystems: [slabby]\ngroups:\n  - { name: directed, points: 4 }\n", 3, "unknown subsystem 'slabby'")]
    [InlineData("id: x\ntitle: t\nsubsystems: [slab]\ngroups:\n  - { name: directed, points: 4, visibility: secret }\n", 5, "visibility 'secret'")]
    [InlineData("id: x\ntitle: t\nsubsystems: [slab]\ngroups:\n  - { name: directed, points: 4 }\nlimitz: {}\n", 6, "unknown key 'limitz'")]
    [InlineData("id: x\ntitle: t\nsubsystems: [slab]\ngroups: [\n", 5, "not valid YAML")]
    [InlineData("id: x\ntitle: t\nsubsystems: [slab]\ngroups:\n  - { name: directed, points: 4 }\nanalyzers:\n  rules:\n    KH1001: { severity: fatal, penalty: 1 }\n", 8, "severity 'fatal'")]
    public void A_malformed_file_is_refused_with_file_line_and_problem(string yaml, int line, string problem)
    {
        var ex = Assert.Throws<AssignmentException>(() => AssignmentLoader.Parse(yaml, "/x/assignment.yaml"));
        Assert.Equal(line, ex.Line);
        Assert.Contains(problem, ex.Problem, StringComparison.Ordinal);
        Assert.StartsWith("/x/assignment.yaml:" + line + ":", ex.Message, StringComparison.Ordinal);
    }
}

public sealed class AllowlistTests
{
    [Theory]
    [InlineData("System.Collections.Generic.List.Add", true)]
    [InlineData("System.IO.File.ReadAllText", false)]
    [InlineData("System.Reflection.MethodInfo", false)]
    [InlineData("KernelHarness.Kernel.kmalloc", true)]
    [InlineData("KernelHarness.Reference.Slab.ReferenceSlab", false)]
    [InlineData("KernelHarness.Runtime.Machine.Current", false)]
    [InlineData("KernelHarness.Runtime.Arch.arch_local_irq_disable", true)]
    [InlineData("System.Environment.Exit", false)]
    [InlineData("System.Type.GetTypeFromHandle", true)]
    [InlineData("System.Type.GetMethods", false)]
    [InlineData("System.Runtime.CompilerServices.RuntimeHelpers.InitializeArray", true)]
    [InlineData("System.Runtime.CompilerServices.Unsafe.As", false)]
    [InlineData("Some.Unknown.Api", false)]
    public void The_default_list_decides_by_the_most_specific_rule(string name, bool allowed) =>
        Assert.Equal(allowed, Allowlist.Default.IsAllowed(name));

    [Fact]
    public void An_assignment_list_extends_the_default_and_wins_ties()
    {
        var list = Allowlist.Parse("include default\n+System.Random\n-System.Collections.Generic.Dictionary\n", "mine.allowlist");
        Assert.True(list.IsAllowed("System.Random.Next"));
        Assert.False(list.IsAllowed("System.Collections.Generic.Dictionary.Add"));
        Assert.True(list.IsAllowed("System.Collections.Generic.List.Add"));
    }

    [Fact]
    public void A_malformed_line_names_its_file_and_line() =>
        Assert.Contains("x.allowlist:2:", Assert.Throws<FormatException>(() => Allowlist.Parse("+A\nB\n", "x.allowlist")).Message, StringComparison.Ordinal);
}
