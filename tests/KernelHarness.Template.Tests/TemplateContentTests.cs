using System;
using System.IO;
using System.Linq;
using System.Text.Json;
using System.Text.RegularExpressions;
using Xunit;

namespace KernelHarness.Template.Tests;

/// <summary>
/// The template's sources agree with the example assignments they are made from (fast: no packages,
/// no dotnet new): the assignment files, the rule severities, the groups dotnet test leaves out, the
/// files a student writes, the package version.
/// </summary>
public sealed class TemplateContentTests
{
    private static JsonElement Symbols => JsonDocument.Parse(File.ReadAllText(Repo.TemplateJson)).RootElement.GetProperty("symbols");

    private static string SwitchValue(string symbol, string assignment) =>
        Symbols.GetProperty(symbol).GetProperty("parameters").GetProperty("cases").EnumerateArray()
            .Single(c => c.GetProperty("condition").GetString() == $"(assignment == \"{assignment}\")")
            .GetProperty("value").GetString()!;

    [Fact]
    public void Every_example_assignment_is_a_template_choice()
    {
        var examples = Directory.GetDirectories(Repo.Examples).Select(Path.GetFileName).OrderBy(n => n, StringComparer.Ordinal);
        Assert.Equal(examples, Repo.Assignments.OrderBy(n => n, StringComparer.Ordinal));
    }

    [Fact]
    public void The_default_package_version_is_the_repository_version()
    {
        Assert.Equal(Repo.Version, Symbols.GetProperty("kernelHarnessVersion").GetProperty("defaultValue").GetString());
    }

    [Theory]
    [MemberData(nameof(Repo.AssignmentData), MemberType = typeof(Repo))]
    public void The_assignment_file_is_the_example_assignments(string assignment)
    {
        var template = File.ReadAllText(Path.Combine(Repo.TemplateDir, "_assignments", assignment, "assignment.yaml"));
        var example = File.ReadAllText(Path.Combine(Repo.Examples, assignment, "assignment.yaml"));
        Assert.Equal(example.ReplaceLineEndings(), template.ReplaceLineEndings());
    }

    [Theory]
    [MemberData(nameof(Repo.AssignmentData), MemberType = typeof(Repo))]
    public void The_editorconfig_has_the_rule_severities_the_assignment_chose(string assignment)
    {
        var yaml = File.ReadAllText(Path.Combine(Repo.Examples, assignment, "assignment.yaml"));
        var editorconfig = File.ReadAllText(Path.Combine(Repo.TemplateDir, "_assignments", assignment, "editorconfig"));
        var rules = Regex.Matches(yaml, @"(KH\d{4}):\s*\{\s*severity:\s*(\w+)").Select(m => (m.Groups[1].Value, m.Groups[2].Value)).ToList();
        Assert.NotEmpty(rules);
        foreach (var (id, severity) in rules)
        {
            var expected = severity switch { "info" => "suggestion", _ => severity };
            Assert.Contains($"dotnet_diagnostic.{id}.severity = {expected}\n", editorconfig.ReplaceLineEndings("\n"));
        }
        Assert.Equal(rules.Count, Regex.Matches(editorconfig, @"dotnet_diagnostic\.KH\d{4}\.severity").Count);
    }

    [Theory]
    [MemberData(nameof(Repo.AssignmentData), MemberType = typeof(Repo))]
    public void Dotnet_test_leaves_out_exactly_the_groups_the_grader_does_not_show(string assignment)
    {
        var yaml = File.ReadAllText(Path.Combine(Repo.Examples, assignment, "assignment.yaml"));
        var groups = Regex.Matches(yaml, @"name:\s*([\w-]+),\s*points:\s*\d+(?:,\s*visibility:\s*(\w+))?")
            .Select(m => (Name: m.Groups[1].Value, Visibility: m.Groups[2].Success ? m.Groups[2].Value : "visible")).ToList();
        Assert.NotEmpty(groups);
        Assert.Equal(string.Join(';', groups.Where(g => g.Visibility != "visible").Select(g => g.Name)), SwitchValue("khNotVisibleGroups", assignment));
        Assert.Equal(string.Join(", ", groups.Where(g => g.Visibility == "visible").Select(g => g.Name)), SwitchValue("khVisibleGroups", assignment));
    }

    [Theory]
    [MemberData(nameof(Repo.AssignmentData), MemberType = typeof(Repo))]
    public void The_stub_is_named_as_the_reference_solution_and_only_throws(string assignment)
    {
        var solution = Directory.GetFiles(Path.Combine(Repo.Examples, assignment, "solution"), "*.cs").Single();
        var stubPath = Path.Combine(Repo.TemplateDir, Path.GetFileName(solution));
        Assert.True(File.Exists(stubPath), stubPath);
        Assert.Equal(Path.GetFileName(solution), SwitchValue("khFile", assignment));
        var stub = File.ReadAllText(stubPath);
        Assert.Contains("is not implemented yet", stub);
        Assert.DoesNotContain("Kernel.", stub.Replace("using static KernelHarness.Kernel;", ""), StringComparison.Ordinal);
        // The class the README names is the one the stub declares.
        Assert.Contains($"public sealed class {SwitchValue("khClass", assignment)} : ", stub);
    }

    [Fact]
    public void The_workflow_builds_tests_and_grades()
    {
        var steps = StudentProject.WorkflowRunSteps(Path.Combine(Repo.TemplateDir, ".github", "workflows", "grade.yml"), out var all);
        Assert.Contains("actions/checkout@v4", all);
        Assert.Contains("actions/setup-dotnet@v4", all);
        var runs = steps.Select(s => s.Run).ToList();
        Assert.Collection(runs,
            r => Assert.StartsWith("dotnet tool restore", r),
            r => Assert.StartsWith("dotnet build", r),
            r => Assert.StartsWith("dotnet test", r),
            r => Assert.StartsWith("dotnet kh grade . --assignment assignment", r));
    }
}
