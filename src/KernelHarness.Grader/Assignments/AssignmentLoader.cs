using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Text.RegularExpressions;
using KernelHarness.Runtime;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace KernelHarness.Grader.Assignments;

/// <summary>
/// Reads and validates <c>assignment.yaml</c> (docs/assignments.md). Every problem is reported with
/// the file, the line and the column of the offending node (YamlDotNet's marks) and what is wrong.
/// </summary>
public static partial class AssignmentLoader
{
    public const string FileName = "assignment.yaml";

    private static readonly string[] TopKeys =
        { "id", "title", "description", "subsystems", "sources", "groups", "analyzers", "performance", "limits", "allowlist", "results" };

    /// <summary>Loads the assignment in <paramref name="path"/> (a folder holding assignment.yaml, or the file itself).</summary>
    public static Assignment Load(string path)
    {
        var file = System.IO.Directory.Exists(path) ? Path.Combine(path, FileName) : path;
        if (!File.Exists(file))
        {
            if (File.Exists(Path.ChangeExtension(file, ".yml")))
                file = Path.ChangeExtension(file, ".yml");
            else
                throw new AssignmentException(file, 0, 0, "no assignment file here (expected assignment.yaml)");
        }
        return Parse(File.ReadAllText(file), Path.GetFullPath(file));
    }

    /// <summary>Parses assignment text; <paramref name="file"/> names it in errors and anchors relative paths.</summary>
    public static Assignment Parse(string text, string file)
    {
        var stream = new YamlStream();
        try
        {
            stream.Load(new StringReader(text));
        }
        catch (YamlException ex)
        {
            throw new AssignmentException(file, ex.Start.Line, ex.Start.Column, "not valid YAML: " + (ex.InnerException?.Message ?? ex.Message));
        }
        if (stream.Documents.Count != 1)
            throw new AssignmentException(file, 1, 1, "expected exactly one YAML document");
        var p = new Parser(file);
        var root = p.Map(stream.Documents[0].RootNode, "the assignment");
        p.NoUnknownKeys(root, TopKeys, "the assignment");

        var id = p.RequiredString(root, "id");
        if (!IdPattern().IsMatch(id))
            p.Fail(root.Children[new YamlScalarNode("id")], $"id '{id}' must be lower-case letters, digits and '-' (it names folders and tags)");
        var title = p.RequiredString(root, "title");
        var description = p.OptionalString(root, "description") ?? "";

        var subsystems = p.StringList(root, "subsystems", required: true);
        var known = Machine.Subsystems.Where(s => s.Assignable).Select(s => s.Name).Append("driver").ToList();
        foreach (var (name, node) in subsystems)
        {
            if (!known.Contains(name, StringComparer.Ordinal))
                p.Fail(node, $"unknown subsystem '{name}' (one of: {string.Join(", ", known.Select(k => "\"" + k + "\""))})");
        }
        if (subsystems.Count == 0)
            p.Fail(root.Children[new YamlScalarNode("subsystems")], "at least one subsystem is required");

        var sources = p.StringList(root, "sources", required: false).Select(s => s.Value).ToList();
        if (sources.Count == 0)
            sources.Add("**/*.cs");
        foreach (var s in sources)
        {
            if (Path.IsPathRooted(s) || s.Split('/', '\\').Contains(".."))
                p.Fail(root.Children[new YamlScalarNode("sources")], $"source pattern '{s}' must stay inside the submission (no absolute paths, no '..')");
        }

        var groups = new List<TestGroup>();
        var groupsNode = p.Seq(p.Required(root, "groups"), "groups");
        foreach (var item in groupsNode.Children)
        {
            var g = p.Map(item, "a group");
            p.NoUnknownKeys(g, new[] { "name", "points", "visibility" }, "a group");
            var name = p.RequiredString(g, "name");
            var points = p.Number(g, "points", required: true, min: 0) ?? 0;
            var vis = ParseVisibility(p, g, "visibility") ?? Visibility.Visible;
            if (groups.Any(x => x.Name == name))
                p.Fail(item, $"group '{name}' is listed twice");
            groups.Add(new TestGroup(name, points, vis));
        }
        if (groups.Count == 0)
            p.Fail(groupsNode, "at least one group is required");

        double maxPenalty = double.PositiveInfinity;
        var rules = new List<AnalyzerRule>();
        if (p.Optional(root, "analyzers") is { } analyzersNode)
        {
            var a = p.Map(analyzersNode, "analyzers");
            p.NoUnknownKeys(a, new[] { "max_penalty", "rules" }, "analyzers");
            maxPenalty = p.Number(a, "max_penalty", required: false, min: 0) ?? double.PositiveInfinity;
            if (p.Optional(a, "rules") is { } rulesNode)
            {
                foreach (var (keyNode, value) in p.Map(rulesNode, "analyzers.rules").Children)
                {
                    var ruleId = ((YamlScalarNode)keyNode).Value ?? "";
                    if (!RuleIdPattern().IsMatch(ruleId))
                        p.Fail(keyNode, $"'{ruleId}' is not a rule id (KHnnnn, rules.md)");
                    var r = p.Map(value, ruleId);
                    p.NoUnknownKeys(r, new[] { "severity", "penalty" }, ruleId);
                    var severity = p.OptionalString(r, "severity") ?? "warning";
                    if (severity is not ("error" or "warning" or "info" or "none"))
                        p.Fail(r.Children[new YamlScalarNode("severity")], $"severity '{severity}' must be error, warning, info or none");
                    var penalty = p.Number(r, "penalty", required: false, min: 0) ?? 0;
                    rules.Add(new AnalyzerRule(ruleId.ToUpperInvariant(), severity, penalty));
                }
            }
        }

        var metrics = new List<PerformanceMetric>();
        var perfGroups = new List<string> { "performance" };
        if (p.Optional(root, "performance") is { } perfNode)
        {
            var perf = p.Map(perfNode, "performance");
            p.NoUnknownKeys(perf, new[] { "metrics", "groups" }, "performance");
            if (p.Optional(perf, "groups") is not null)
                perfGroups = p.StringList(perf, "groups", required: false).Select(x => x.Value).ToList();
            if (p.Optional(perf, "metrics") is { } metricsNode)
            {
                foreach (var item in p.Seq(metricsNode, "performance.metrics").Children)
                {
                    var m = p.Map(item, "a metric");
                    p.NoUnknownKeys(m, new[] { "name", "weight", "lower_is_better", "cap" }, "a metric");
                    var name = p.RequiredString(m, "name");
                    var weight = p.Number(m, "weight", required: true, min: 0) ?? 0;
                    var lower = p.Bool(m, "lower_is_better") ?? false;
                    var cap = p.Number(m, "cap", required: false, min: 0.01) ?? 1.0;
                    metrics.Add(new PerformanceMetric(name, weight, lower, cap));
                }
            }
        }

        var limits = new Limits(20, 600, 768);
        if (p.Optional(root, "limits") is { } limitsNode)
        {
            var l = p.Map(limitsNode, "limits");
            p.NoUnknownKeys(l, new[] { "test_timeout_seconds", "run_timeout_seconds", "memory_mb" }, "limits");
            limits = new Limits(
                p.Number(l, "test_timeout_seconds", required: false, min: 0.1) ?? 20,
                p.Number(l, "run_timeout_seconds", required: false, min: 1) ?? 600,
                (int)(p.Number(l, "memory_mb", required: false, min: 64) ?? 768));
        }

        var directory = Path.GetDirectoryName(file)!;
        var allowlist = p.OptionalString(root, "allowlist") ?? "default";
        if (allowlist != "default")
        {
            var full = Path.GetFullPath(Path.Combine(directory, allowlist));
            if (!full.StartsWith(Path.GetFullPath(directory) + Path.DirectorySeparatorChar, StringComparison.Ordinal) || !File.Exists(full))
                p.Fail(root.Children[new YamlScalarNode("allowlist")], $"allowlist '{allowlist}' must be 'default' or a file inside the assignment folder");
        }

        var resultVis = Visibility.Visible;
        var stdoutVis = Visibility.Hidden;
        if (p.Optional(root, "results") is { } resultsNode)
        {
            var r = p.Map(resultsNode, "results");
            p.NoUnknownKeys(r, new[] { "visibility", "stdout_visibility" }, "results");
            resultVis = ParseVisibility(p, r, "visibility") ?? resultVis;
            stdoutVis = ParseVisibility(p, r, "stdout_visibility") ?? stdoutVis;
        }

        return new Assignment
        {
            Directory = directory,
            File = file,
            Id = id,
            Title = title,
            Description = description,
            Subsystems = subsystems.Select(s => s.Value).ToList(),
            Sources = sources,
            Groups = groups,
            AnalyzerMaxPenalty = maxPenalty,
            AnalyzerRules = rules,
            PerformanceMetrics = metrics,
            PerformanceGroups = perfGroups,
            Limits = limits,
            Allowlist = allowlist,
            ResultVisibility = resultVis,
            StdoutVisibility = stdoutVis,
        };
    }

    private static Visibility? ParseVisibility(Parser p, YamlMappingNode map, string key)
    {
        var s = p.OptionalString(map, key);
        return s switch
        {
            null => null,
            "visible" => Visibility.Visible,
            "hidden" => Visibility.Hidden,
            "after_due_date" => Visibility.AfterDueDate,
            "after_published" => Visibility.AfterPublished,
            _ => throw p.Error(map.Children[new YamlScalarNode(key)], $"{key} '{s}' must be visible, hidden, after_due_date or after_published"),
        };
    }

    [GeneratedRegex("^[a-z0-9][a-z0-9-]*$")]
    private static partial Regex IdPattern();

    [GeneratedRegex("^[Kk][Hh][0-9]{4}$")]
    private static partial Regex RuleIdPattern();

    private sealed class Parser
    {
        private readonly string file;

        public Parser(string file) => this.file = file;

        public AssignmentException Error(YamlNode node, string problem) => new(file, node.Start.Line, node.Start.Column, problem);

        public void Fail(YamlNode node, string problem) => throw Error(node, problem);

        public YamlMappingNode Map(YamlNode node, string what) =>
            node as YamlMappingNode ?? throw Error(node, $"{what} must be a mapping (key: value)");

        public YamlSequenceNode Seq(YamlNode node, string what) =>
            node as YamlSequenceNode ?? throw Error(node, $"{what} must be a list");

        public YamlNode? Optional(YamlMappingNode map, string key) =>
            map.Children.TryGetValue(new YamlScalarNode(key), out var v) && !(v is YamlScalarNode { Value: null or "" or "~" or "null", Style: ScalarStyle.Plain }) ? v : null;

        public YamlNode Required(YamlMappingNode map, string key) =>
            Optional(map, key) ?? throw Error(map, $"'{key}' is required");

        public string RequiredString(YamlMappingNode map, string key)
        {
            var node = Required(map, key);
            var s = node as YamlScalarNode ?? throw Error(node, $"'{key}' must be a string");
            return s.Value ?? "";
        }

        public string? OptionalString(YamlMappingNode map, string key)
        {
            var node = Optional(map, key);
            if (node is null)
                return null;
            return (node as YamlScalarNode ?? throw Error(node, $"'{key}' must be a string")).Value;
        }

        public double? Number(YamlMappingNode map, string key, bool required, double min)
        {
            var node = required ? Required(map, key) : Optional(map, key);
            if (node is null)
                return null;
            if (node is not YamlScalarNode s || !double.TryParse(s.Value, NumberStyles.Float, CultureInfo.InvariantCulture, out var d) || double.IsNaN(d) || double.IsInfinity(d))
                throw Error(node, $"'{key}' must be a number");
            if (d < min)
                throw Error(node, $"'{key}' must be at least {min.ToString(CultureInfo.InvariantCulture)}");
            return d;
        }

        public bool? Bool(YamlMappingNode map, string key)
        {
            var node = Optional(map, key);
            if (node is null)
                return null;
            return node is YamlScalarNode { Value: "true" or "false" } s ? s.Value == "true" : throw Error(node, $"'{key}' must be true or false");
        }

        public List<(string Value, YamlNode Node)> StringList(YamlMappingNode map, string key, bool required)
        {
            var node = required ? Required(map, key) : Optional(map, key);
            var list = new List<(string, YamlNode)>();
            if (node is null)
                return list;
            if (node is YamlScalarNode single)
            {
                list.Add((single.Value ?? "", single));
                return list;
            }
            foreach (var item in Seq(node, key).Children)
                list.Add(((item as YamlScalarNode ?? throw Error(item, $"each entry of '{key}' must be a string")).Value ?? "", item));
            return list;
        }

        public void NoUnknownKeys(YamlMappingNode map, string[] allowed, string what)
        {
            foreach (var key in map.Children.Keys)
            {
                var name = (key as YamlScalarNode)?.Value ?? "";
                if (!allowed.Contains(name, StringComparer.Ordinal))
                    Fail(key, $"unknown key '{name}' in {what} (allowed: {string.Join(", ", allowed)})");
            }
        }
    }
}
