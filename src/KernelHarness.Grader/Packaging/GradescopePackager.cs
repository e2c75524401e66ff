using System;
using System.IO;
using System.IO.Compression;
using System.Linq;
using KernelHarness.Grader.Assignments;

namespace KernelHarness.Grader.Packaging;

/// <summary>
/// <c>kh gradescope</c>: an autograder.zip for Gradescope's Ubuntu image — setup.sh (installs the .NET
/// SDK with dotnet-install and bubblewrap), run_autograder (grades /autograder/submission into
/// /autograder/results/results.json), the assignment (with its hidden tests; no solution, no example
/// submissions) and the kh tool folder itself. Paths can be moved with environment variables so the
/// package can be exercised without root: KH_SOURCE_DIR, KH_SUBMISSION_DIR, KH_RESULTS_DIR, KH_DOTNET.
/// </summary>
public static class GradescopePackager
{
    public const string SetupSh = """
        #!/usr/bin/env bash
        # Gradescope runs this once, as root, when the autograder image is built.
        set -euo pipefail
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -q
        apt-get install -y -q curl ca-certificates libicu-dev bubblewrap || apt-get install -y -q curl ca-certificates libicu-dev
        if ! command -v dotnet >/dev/null 2>&1 || ! dotnet --list-sdks 2>/dev/null | grep -q '^10\.'; then
          curl -sSL https://dot.net/v1/dotnet-install.sh -o /tmp/dotnet-install.sh
          bash /tmp/dotnet-install.sh --channel 10.0 --install-dir /usr/share/dotnet
          ln -sf /usr/share/dotnet/dotnet /usr/bin/dotnet
        fi
        export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
        # Warm the SDK (first-run setup, workload manifests) so the first student's build is not slower.
        dotnet --info >/dev/null
        """;

    public const string RunAutograder = """
        #!/usr/bin/env bash
        # Gradescope runs this for every submission. Exit 0 whenever results.json was written.
        set -u
        ROOT="${KH_AUTOGRADER_ROOT:-/autograder}"
        SOURCE="${KH_SOURCE_DIR:-$ROOT/source}"
        SUBMISSION="${KH_SUBMISSION_DIR:-$ROOT/submission}"
        RESULTS="${KH_RESULTS_DIR:-$ROOT/results}"
        DOTNET="${KH_DOTNET:-$(command -v dotnet || echo /usr/share/dotnet/dotnet)}"
        export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
        mkdir -p "$RESULTS"
        "$DOTNET" "$SOURCE/kh/kh.dll" grade "$SUBMISSION" --assignment "$SOURCE/assignment" --out "$RESULTS"
        status=$?
        if [ ! -s "$RESULTS/results.json" ]; then
          printf '{"score": 0, "output": "The grader did not produce a result (exit code %s).", "tests": []}\n' "$status" > "$RESULTS/results.json"
        fi
        exit 0
        """;

    public static void Create(string assignmentDir, string zipPath, string toolDirectory)
    {
        var assignment = AssignmentLoader.Load(assignmentDir);
        if (!File.Exists(Path.Combine(toolDirectory, "kh.dll")))
            throw new FileNotFoundException($"kh.dll is not in the tool folder '{toolDirectory}'.");
        if (File.Exists(zipPath))
            File.Delete(zipPath);
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(zipPath))!);
        using var zip = ZipFile.Open(zipPath, ZipArchiveMode.Create);
        AddText(zip, "setup.sh", SetupSh + "\n");
        AddText(zip, "run_autograder", RunAutograder + "\n");
        foreach (var file in Directory.GetFiles(assignment.Directory, "*", SearchOption.AllDirectories).OrderBy(f => f, StringComparer.Ordinal))
        {
            var rel = Path.GetRelativePath(assignment.Directory, file).Replace('\\', '/');
            var top = rel.Split('/')[0];
            if (top is "submissions" or "solution" or "bin" or "obj")
                continue;
            zip.CreateEntryFromFile(file, "assignment/" + rel);
        }
        foreach (var file in Directory.GetFiles(toolDirectory, "*", SearchOption.AllDirectories).OrderBy(f => f, StringComparer.Ordinal))
        {
            var rel = Path.GetRelativePath(toolDirectory, file).Replace('\\', '/');
            if (rel.EndsWith(".xml", StringComparison.Ordinal) && !rel.StartsWith("analyzers/", StringComparison.Ordinal))
                continue;
            zip.CreateEntryFromFile(file, "kh/" + rel);
        }
    }

    private static void AddText(ZipArchive zip, string name, string text)
    {
        var entry = zip.CreateEntry(name);
        entry.ExternalAttributes = Convert.ToInt32("100755", 8) << 16; // executable, for unzip on Linux
        using var writer = new StreamWriter(entry.Open());
        writer.Write(text.Replace("\r\n", "\n", StringComparison.Ordinal));
    }
}
