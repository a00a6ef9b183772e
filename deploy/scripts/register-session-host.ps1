<#
.SYNOPSIS
  Registers this scale-set instance as an Azure Virtual Desktop session host through the DR identity chain.

.DESCRIPTION
  Run by the scale set's Custom Script extension (AVD-Register, chained after the Entra/domain join) on every
  new instance, including instances added by the portal or autoscale after the bot's registration token expired:

  1. IMDS: a token of the user-assigned identity -IdentityId (AVDManage) for api://AzureADTokenExchange.
  2. Entra ID: that token as client_assertion for the app -AppId (AVD-Join), which trusts the identity through
     a federated credential (issuer https://login.microsoftonline.com/<tenant>/v2.0, subject = the identity's
     principal id, audience api://AzureADTokenExchange): an ARM token as AVD-Join.
  3. ARM: retrieveRegistrationToken on -HostPoolId as AVD-Join (Desktop Virtualization Host Pool Contributor on
     the host pool's resource group); a pool without a current token gets one (registrationInfo, 2 hours).
  4. The documented agent install: the Azure Virtual Desktop Agent (RDAgent) with REGISTRATIONTOKEN, then the
     Agent Bootloader.
  If step 1-3 fails, -RegistrationToken (the token the bot wrote into the model, protected settings) is used; it
  registers only while it is the pool's current, unexpired token. The first failing link is written to stderr,
  which the extension's instance view shows (ComponentStatus/StdErr). Exit 1 when no token could be used.
  docs/simulator.md, "Rules: the DR identity chain", reviews each line against Microsoft's documentation.
#>
param(
    [Parameter(Mandatory)] [string] $IdentityId,   # ARM id of the user-assigned identity (IMDS msi_res_id)
    [string] $AppId = '',                          # AVD-Join's application (client) id
    [Parameter(Mandatory)] [string] $HostPoolId,   # ARM id of the host pool
    [string] $RegistrationToken = ''               # fallback: the token in the scale set model
)
$ErrorActionPreference = 'Stop'
$arm = 'https://management.azure.com'
$avdApi = '2024-04-03'

function Get-ChainToken {
    # 1. IMDS, api-version 2018-02-01, resource = the token-exchange audience, the identity chosen by resource id
    $imds = 'http://169.254.169.254/metadata/identity/oauth2/token?api-version=2018-02-01' +
        '&resource=' + [uri]::EscapeDataString('api://AzureADTokenExchange') +
        '&msi_res_id=' + [uri]::EscapeDataString($IdentityId)
    $mi = Invoke-RestMethod -Uri $imds -Headers @{ Metadata = 'true' } -Method Get
    $claims = $mi.access_token.Split('.')[1].Replace('-', '+').Replace('_', '/')
    $claims += '=' * ((4 - $claims.Length % 4) % 4)
    $tenant = ([Text.Encoding]::UTF8.GetString([Convert]::FromBase64String($claims)) | ConvertFrom-Json).tid
    if (-not $AppId) { throw 'no -AppId: the join application is unknown' }
    # 2. client credentials with a federated assertion (v2.0 token endpoint)
    $form = @{
        client_id             = $AppId
        scope                 = "$arm/.default"
        grant_type            = 'client_credentials'
        client_assertion_type = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer'
        client_assertion      = $mi.access_token
    }
    $app = Invoke-RestMethod -Method Post -Body $form `
        -Uri "https://login.microsoftonline.com/$tenant/oauth2/v2.0/token"
    $auth = @{ Authorization = "Bearer $($app.access_token)" }
    # 3. the host pool's registration token (POST .../retrieveRegistrationToken), issued when there is none
    $info = Invoke-RestMethod -Method Post -Headers $auth `
        -Uri "$arm$HostPoolId/retrieveRegistrationToken?api-version=$avdApi"
    if (-not $info.token) {
        $body = @{ properties = @{ registrationInfo = @{
            expirationTime = (Get-Date).ToUniversalTime().AddHours(2).ToString('o')
            registrationTokenOperation = 'Update' } } } | ConvertTo-Json -Depth 4
        $pool = Invoke-RestMethod -Method Patch -Headers $auth -ContentType 'application/json' -Body $body `
            -Uri "$arm$HostPoolId?api-version=$avdApi"
        $info = $pool.properties.registrationInfo
    }
    return $info.token
}

try {
    $token = Get-ChainToken
    Write-Output "registration token retrieved for $HostPoolId as $AppId"
} catch {
    [Console]::Error.WriteLine("chain failed: $($_.Exception.Message)")
    if (-not $RegistrationToken) { [Console]::Error.WriteLine('no fallback registration token'); exit 1 }
    $token = $RegistrationToken
    Write-Output 'using the fallback registration token from the scale set model'
}

# 4. Microsoft's documented install: the agent with the registration token, then the bootloader
$dir = Join-Path $env:TEMP 'avd-agent'
New-Item -ItemType Directory -Force -Path $dir | Out-Null
$agent = Join-Path $dir 'RDAgent.msi'
$boot = Join-Path $dir 'RDAgentBootLoader.msi'
Invoke-WebRequest -UseBasicParsing -Uri 'https://query.prod.cms.rt.microsoft.com/cms/api/am/binary/RWrmXv' -OutFile $agent
Invoke-WebRequest -UseBasicParsing -Uri 'https://query.prod.cms.rt.microsoft.com/cms/api/am/binary/RWrxrH' -OutFile $boot
Unblock-File -Path $agent
Unblock-File -Path $boot
$p = Start-Process msiexec.exe -Wait -PassThru -ArgumentList @('/i', "`"$agent`"", '/quiet', "REGISTRATIONTOKEN=$token")
if ($p.ExitCode -ne 0) { [Console]::Error.WriteLine("agent install exit code $($p.ExitCode)"); exit 1 }
$p = Start-Process msiexec.exe -Wait -PassThru -ArgumentList @('/i', "`"$boot`"", '/quiet')
if ($p.ExitCode -ne 0) { [Console]::Error.WriteLine("bootloader install exit code $($p.ExitCode)"); exit 1 }
Write-Output 'agent and bootloader installed'
